"""Norm tracking, as chapters 3 to 6 import it: `from angpt import tracking as tr`.

One name for two modules that sit on different floors:
  angpt.norms                     per-layer norm tables from a cache, and the `NormRecorder`
                                  the training loop fills (train imports it, so it trains nothing)
  angpt.experiments.norm_lab      the norm-lab grid: runs that train and record (``norm_lab``)

This module only re-exports them (it sits on top, beside `angpt.experiments`); nothing inside
the library imports it. New code imports the module that owns the name.
"""

from __future__ import annotations

from .experiments.norm_lab import *  # noqa: F401,F403
from .experiments.norm_lab import __all__ as _lab_names
from .experiments.norm_lab import _round  # noqa: F401  (tests check the rounding)
from .norms import *  # noqa: F401,F403
from .norms import __all__ as _norm_names
from .norms import _BLOCK_HOOK, _check_sites, _describe  # noqa: F401

__all__ = [*_norm_names, *_lab_names]
