from . import (
    test_adversarial,
    test_link_lifecycle,
    test_pay_page,
    test_provider,
    test_roles,
    test_roles_rpc,
    test_sending,
    test_settings,
    test_stripe_checkout,
    test_tour,
    test_visibility,
    test_webhook,
)
