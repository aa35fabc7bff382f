from . import (
    account_move,
    account_move_send,
    ir_http,
    komet_paylink,
    komet_paylink_demo,
    komet_paylink_event,
    payment_provider,
    payment_transaction,
    res_company,
    res_config_settings,
    sale_order,
)
