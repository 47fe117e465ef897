"""Forward learning rules (THEORY.md section 6) for torch networks: the core's own
(:mod:`dfc_theory.learning`), every public name re-exported."""
from ..learning import *  # noqa: F401,F403
from ..learning import __all__  # noqa: F401
