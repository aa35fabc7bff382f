{
    "name": "Komet Payment Links",
    "summary": "Email invoices with a Pay now button and QR code, paid through Stripe Checkout",
    "version": "18.0.1.3.0",
    "category": "Accounting/Payment Providers",
    "author": "Komet",
    "website": "https://github.com/komet/komet_paylink",
    "license": "LGPL-3",
    "depends": [
        "account_payment",
        "sale_management",
    ],
    "external_dependencies": {
        "python": ["stripe", "qrcode"],
    },
    "data": [
        "security/res_groups.xml",
        "security/ir.model.access.csv",
        "security/ir_rules.xml",
        "data/ir_cron.xml",
        "data/payment_provider_data.xml",
        "data/mail_template_data.xml",
        "views/komet_paylink_views.xml",
        "views/payment_provider_views.xml",
        "views/account_move_views.xml",
        "views/sale_order_views.xml",
        "views/res_partner_views.xml",
        "views/res_config_settings_views.xml",
        "views/komet_paylink_templates.xml",
        "views/mail_templates.xml",
        "wizards/account_move_send_views.xml",
    ],
    "demo": [
        "demo/komet_paylink_demo.xml",
    ],
    "assets": {
        "web.assets_tests": [
            "komet_paylink/static/tests/tours/**/*",
        ],
    },
    "post_init_hook": "post_init_hook",
    "uninstall_hook": "uninstall_hook",
    "installable": True,
}
