"""Shared pieces of the chapter generators (tools/make_chNN.py).

Some chapters are generated from a script rather than edited as notebooks, so their long
figure code stays reviewable Python. Edit the script, run it, then pin the check cells:

    python tools/make_ch07.py && python tools/nbtool.py pin book/07_race.ipynb

tests/test_book.py regenerates every such chapter into a temporary folder ($NB_OUT_DIR) and
checks that the committed notebook has exactly the script's cells, so the two cannot drift.
"""

from __future__ import annotations

import os
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def md(text: str):
    return new_markdown_cell(dedent(text).strip("\n"))


def code(text: str):
    return new_code_cell(dedent(text).strip("\n"))


def notebook(cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def write(cells, name: str) -> Path:
    """Write book/NAME (or $NB_OUT_DIR/NAME) with outputs stripped; returns the path."""
    out_dir = Path(os.environ.get("NB_OUT_DIR") or ROOT / "book")
    path = out_dir / name
    nbformat.write(notebook(cells), path)
    print(f"wrote {path}")
    return path
