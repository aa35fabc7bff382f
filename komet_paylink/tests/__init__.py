from . import test_link_lifecycle
from . import test_pay_page
from . import test_roles
from . import test_roles_rpc
from . import test_settings
from . import test_visibility
