"""Pin the expected text of `# NBVAL_CHECK_OUTPUT` cells: the one step jupytext and nbstripout
do not do. Usage (either file of a chapter's pair):

    python tools/pin_checks.py book/02_factors.md

It syncs the pair, executes the chapter at the quick size, stores the plain text each check
cell printed in that cell's metadata (`angpt_expected`, which book/conftest.py hands to nbval
as the reference), strips every output with nbstripout, and syncs the .md again, so both files
carry the new expected text.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import nbformat

CHECK = "# NBVAL_CHECK_OUTPUT"
KEY = "angpt_expected"  # cell metadata read by book/conftest.py


def _run(*args: str) -> None:
    subprocess.run([sys.executable, "-m", *args], check=True)


def expected_text(outputs) -> list[dict]:
    """The plain-text part of a cell's outputs (stdout, text/plain), as nbval compares it."""
    kept = []
    for out in outputs:
        if out.output_type == "stream" and out.name == "stdout":
            kept.append({"output_type": "stream", "name": "stdout", "text": out.text})
        elif out.output_type in ("execute_result", "display_data") and "text/plain" in out.data:
            kept.append({"output_type": "execute_result", "execution_count": 1,
                         "data": {"text/plain": out.data["text/plain"]}, "metadata": {}})
    return kept


def pin(path: Path) -> None:
    from nbclient import NotebookClient

    ipynb = path.with_suffix(".ipynb")
    _run("jupytext", "--sync", str(ipynb))  # take in the latest edit of the .md
    nb = nbformat.read(ipynb, as_version=4)
    metadata = copy.deepcopy(nb.metadata)  # execution rewrites language_info: keep the committed one
    os.environ.setdefault("ANGPT_QUICK", "1")
    os.environ.setdefault("ANGPT_BOOK", "1")
    NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(ipynb.parent)}}).execute()
    nb.metadata = metadata
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop(KEY, None)
        if cell.source.lstrip().startswith(CHECK):
            cell.metadata[KEY] = expected_text(cell.outputs)
    nbformat.write(nb, ipynb)
    _run("nbstripout", "--keep-id", str(ipynb))
    _run("jupytext", "--sync", str(ipynb))  # the .ipynb is now newer: the .md takes its metadata


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for arg in argv:
        pin(Path(arg))
        print(f"pinned: {arg}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
