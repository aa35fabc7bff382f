from . import account_move
from . import komet_paylink
from . import res_company
from . import res_config_settings
from . import sale_order
