"""Put the demo database in demo mode; scripts/demo runs it (a click-odoo script):

    PYTHONPATH=$ODOO python scripts/demo_mode.py -d DB --addons-path PATHS --url URL

web.base.url becomes the demo's address, and the main company's payment-link provider goes to
demo mode (a local simulated checkout stands for Stripe). Nothing changes when already so.
"""

import click
import click_odoo


@click.command()
@click_odoo.env_options(with_rollback=False, with_addons_path=True, default_log_level="warn")
@click.option("--url", required=True, help="the demo's address, e.g. http://127.0.0.1:8069")
def main(env, url):
    parameters = env["ir.config_parameter"].sudo()
    if parameters.get_param("web.base.url") != url:
        parameters.set_param("web.base.url", url)
        click.echo(f"[komet] system parameter web.base.url = {url}")
    provider = env["payment.provider"]._paylink_provider_for(env.ref("base.main_company"))
    if not provider.komet_demo_mode:
        provider._paylink_set_account(demo_mode=True)
        click.echo("[komet] the main company's payment-link provider is in demo mode")


if __name__ == "__main__":
    main()
