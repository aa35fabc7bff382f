from . import komet_paylink_document_mixin  # isort: skip (inherited by the models below)
from . import (
    account_move,
    account_move_line,
    account_move_send,
    account_payment,
    ir_cron,
    ir_http,
    komet_paylink,
    komet_paylink_demo,
    komet_paylink_event,
    komet_paylink_payout,
    payment_provider,
    payment_transaction,
    res_company,
    res_config_settings,
    res_partner,
    sale_order,
)
