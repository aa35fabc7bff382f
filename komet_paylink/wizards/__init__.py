from . import account_move_send_batch_wizard
from . import account_move_send_wizard
from . import mail_compose_message
