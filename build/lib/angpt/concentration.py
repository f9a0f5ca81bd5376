"""Concentration of measure, and every constant normalization factor anGPT uses.

Chapters 1 and 2 use this one name (`from angpt import concentration as cm`); it gathers
three modules:
  angpt.factors         the factors nu in closed form: the one source the models read
  angpt.sampling        random vectors on the sphere and in R^d, their norms and angles,
                        Monte Carlo norm statistics, the Gaussian and Levy bounds
  angpt.factor_checks   each factor estimated by Monte Carlo, errors compounded over the
                        LERP updates, the attention average on inputs that break assumptions

Convention: a factor nu for a map g is 1 / sqrt(E ||g(x)||^2) with x uniform on the unit
sphere (and weight rows of unit norm), so that ||nu * g(x)|| concentrates around 1.
"""

from __future__ import annotations

from .factor_checks import *  # noqa: F401,F403
from .factor_checks import __all__ as _check_names
from .factors import *  # noqa: F401,F403
from .factors import __all__ as _factor_names
from .sampling import *  # noqa: F401,F403
from .sampling import __all__ as _sampling_names

__all__ = [*_factor_names, *_sampling_names, *_check_names]
