from . import (
    account_move_send_batch_wizard,
    account_move_send_wizard,
    komet_paylink_share_wizard,
    mail_compose_message,
)
