from tests.acceptance.exo_support import exo

__all__ = ["exo"]
