from tests.acceptance.exact_support import exact_env, make_exact
from tests.acceptance.exo_support import exo

__all__ = ["exact_env", "exo", "make_exact"]
