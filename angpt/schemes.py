"""Chapter 10's experiment under its first name: `angpt.schemes` is `angpt.experiments.schemes`.

Chapters and tests use `from angpt import schemes as S`; this makes that the very module the
experiment runs in (not a copy of its names), so setting `S.SCHEMES` reaches the experiment.
New code imports `angpt.experiments.schemes`.
"""

import sys

from .experiments import schemes as _schemes

sys.modules[__name__] = _schemes
