"""Notebook hygiene: strip outputs, or pin the expected text of `# NBVAL_CHECK_OUTPUT` cells.

Notebooks are committed without outputs. A cell whose first line is `# NBVAL_CHECK_OUTPUT`
keeps the plain text it printed in its metadata (`angpt_expected`); book/conftest.py hands
that to nbval as the reference, so a key number (rounded) is checked in CI. Usage:

    python tools/nbtool.py strip book/*.ipynb     # drop every output and execution count
    python tools/nbtool.py pin book/02_factors.ipynb   # execute (quick mode), keep only check-cell outputs
"""

from __future__ import annotations

import os
import sys

import nbformat

CHECK = "# NBVAL_CHECK_OUTPUT"
KEY = "angpt_expected"  # cell metadata read by book/conftest.py


def is_check_cell(cell) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith(CHECK)


def strip(nb, keep_checks: bool) -> None:
    """Drop every output and count; with keep_checks, check cells keep their plain-text
    results (stdout, text/plain) as metadata for nbval."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        keep = {k: v for k, v in cell.metadata.items() if k == "tags" or (k == KEY and not keep_checks)}
        if keep_checks and is_check_cell(cell):
            expected = []
            for out in cell.outputs:
                if out.output_type == "stream" and out.name == "stdout":
                    expected.append({"output_type": "stream", "name": "stdout", "text": out.text})
                elif out.output_type in ("execute_result", "display_data") and "text/plain" in out.data:
                    expected.append({"output_type": "execute_result", "execution_count": 1,
                                     "data": {"text/plain": out.data["text/plain"]}, "metadata": {}})
            keep[KEY] = expected
        cell.metadata = keep
        cell.outputs = []
        cell.execution_count = None


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("strip", "pin"):
        print(__doc__)
        return 2
    mode, paths = argv[0], argv[1:]
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if mode == "pin":
            from nbclient import NotebookClient

            os.environ.setdefault("ANGPT_QUICK", "1")
            os.environ.setdefault("ANGPT_BOOK", "1")
            NotebookClient(nb, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": os.path.dirname(path) or "."}}).execute()
        strip(nb, keep_checks=(mode == "pin"))
        nbformat.write(nb, path)
        print(f"{mode}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
