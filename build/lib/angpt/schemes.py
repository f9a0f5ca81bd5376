"""Chapter 10's experiment under its first name: `from angpt import schemes as S` reads
`angpt.experiments.schemes` (configs, summaries, tables). Code that changes a setting the
experiment reads (a test narrowing `SCHEMES`) sets it on `angpt.experiments.schemes`.
"""

from .experiments.schemes import *  # noqa: F401,F403
