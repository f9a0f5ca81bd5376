"""nbval support: compare `# NBVAL_CHECK_OUTPUT` cells against text kept in cell metadata.

Notebooks are committed with no outputs at all. The expected text of a check cell lives in
its metadata (`angpt_expected`, written by `tools/pin_checks.py`, carried in the chapter's .md
too); here it is handed back to nbval as the cell's reference output, so nbval compares it on
every run as usual. nbval collects only the .ipynb files, never their .md twins.
"""

from __future__ import annotations

import nbformat

KEY = "angpt_expected"


def pytest_collection_modifyitems(items):
    for item in items:
        cell = getattr(item, "cell", None)  # nbval's IPyNbCell keeps its notebook cell here
        if cell is None or KEY not in cell.get("metadata", {}):
            continue
        cell.outputs = [nbformat.from_dict(out) for out in cell.metadata[KEY]]
        cell.execution_count = 1  # nbval skips comparing cells it thinks were never run
