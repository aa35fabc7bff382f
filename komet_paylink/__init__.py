from . import models


def post_init_hook(env):
    """Let every existing company's five roles send links, as new companies do by default."""
    env["res.company"].search([])._paylink_reset_sender_groups()
