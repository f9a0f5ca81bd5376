"""Book hygiene: each chapter's MyST .md (what authors edit) and its .ipynb (what is built, run
and opened in Colab) hold the same cells, notebooks are committed without outputs, the TOC lists
exactly the chapters that exist, and every chapter starts with the Colab setup cell."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
CHECK = "# NBVAL_CHECK_OUTPUT"


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [ch["file"] for ch in part["chapters"]]
    return files


SYNC = "jupytext --sync book/*.ipynb"  # the one command that brings each .md and .ipynb together
STRIP = "nbstripout --keep-id book/*.ipynb"


def _cells(nb) -> list[tuple[str, str, dict]]:
    """A notebook's cells as the .md can carry them: jupytext drops some editor metadata
    (scrolled, collapsed, ...) from text files, so compare after one trip through MyST."""
    nb = jupytext.reads(jupytext.writes(nb, fmt="md:myst"), fmt="md:myst")
    return [(c.cell_type, c.source, dict(c.metadata)) for c in nb.cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_and_notebook_are_in_sync(path):
    """Each chapter is edited as book/NAME.md (MyST, jupytext) and paired with book/NAME.ipynb,
    which the book builds, nbval runs and Colab opens: their cells must be the same."""
    md = path.with_suffix(".md")
    assert md.exists(), f"{path.name} has no paired {md.name}: run jupytext --set-formats ipynb,md:myst {path.relative_to(ROOT)}"
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("jupytext", {}).get("formats") == "ipynb,md:myst", f"{path.name} is not paired: run jupytext --set-formats ipynb,md:myst {path.relative_to(ROOT)}"
    text, built = _cells(jupytext.read(md)), _cells(nb)
    for i, (a, b) in enumerate(zip(text, built)):
        first = (a[1].splitlines() or [""])[0][:60]
        assert a == b, f"{md.name} and {path.name} differ at cell {i} ({first!r}): run `{SYNC}`"
    assert len(text) == len(built), f"{md.name} has {len(text)} cells, {path.name} {len(built)}: run `{SYNC}`"


def test_paired_markdown_is_not_built():
    """The book builds each chapter from its .ipynb; _config.yml must exclude every .md twin
    (Sphinx would otherwise find two files for one page) and no stand-alone .md page."""
    from sphinx.util.matching import Matcher

    excluded = Matcher(yaml.safe_load((ROOT / "_config.yml").read_text())["exclude_patterns"])
    for md in sorted(BOOK.glob("*.md")):
        twin = md.with_suffix(".ipynb").exists()
        is_excluded = excluded(md.relative_to(ROOT).as_posix())
        assert is_excluded or not twin, f"{md.name}: add it to exclude_patterns in _config.yml"
        assert twin or not is_excluded, f"{md.name} is excluded from the book but has no .ipynb twin: run `{SYNC}`"


def test_notebooks_are_stripped():
    """Notebooks are committed without outputs or execution counts (nbstripout, which keeps the
    `angpt_expected` cell metadata: a pinned notebook passing here shows it)."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "nbstripout", "--keep-id", "--verify", *map(str, NOTEBOOKS)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, f"{run.stdout}{run.stderr}: run `{STRIP}`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_check_cells_are_pinned(path):
    """The expected text of # NBVAL_CHECK_OUTPUT cells lives in their metadata (written by
    tools/pin_checks.py) and is plain text only; book/conftest.py gives it to nbval, which
    compares it on every run."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.metadata.get("angpt_expected", []):
            kinds = set(out.get("data", {})) or {out["output_type"]}
            assert kinds <= {"text/plain", "stream"}, f"{path.name} cell {i}: check cell expects {kinds}"
        if cell.source.lstrip().startswith(CHECK):
            assert cell.metadata.get("angpt_expected"), f"{path.name} cell {i}: check cell not pinned (tools/pin_checks.py)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_starts_with_setup_cell(path):
    """The first code cell is the Colab install, exactly as `angpt.colab.colab_install_cell()`
    derives it from _config.yml (so it installs the ref the site was built from), tagged
    remove-cell: hidden on the site, visible in Colab and Jupyter, a no-op outside Colab. The
    next code cell sets up the figures."""
    from angpt.colab import colab_install_cell

    nb = nbformat.read(path, as_version=4)
    first, second = [c for c in nb.cells if c.cell_type == "code"][:2]
    cell = colab_install_cell()
    assert first.source.startswith(cell), (f"{path.name}: the first code cell must start with the Colab "
                                           f"install cell, angpt.colab.colab_install_cell():\n{cell}")
    assert "remove-cell" in first.metadata.get("tags", []), f"{path.name}: tag the Colab install cell remove-cell"
    assert "viz.setup()" in second.source, f"{path.name}: the second code cell must call viz.setup()"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


def test_toc_lists_exactly_the_chapters():
    listed = set(_toc_files())
    pages = {f"book/{p.stem}" for p in BOOK.glob("*.ipynb")} | {f"book/{p.stem}" for p in BOOK.glob("*.md")}
    assert listed == pages, f"missing from _toc.yml: {sorted(pages - listed)}; listed but absent: {sorted(listed - pages)}"


def test_results_carry_provenance():
    import json

    for path in sorted((BOOK / "results").glob("*.json")):
        rec = json.loads(path.read_text())
        prov = rec.get("provenance", {})
        for key in ("commit", "device", "date", "seeds", "torch", "version"):
            assert key in prov, f"{path.name}: provenance lacks {key!r}"
