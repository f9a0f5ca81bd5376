"""Book hygiene: notebooks are committed without outputs, the TOC lists exactly the chapters
that exist, and every chapter starts with the Colab install + renderer setup cell."""

from __future__ import annotations

from pathlib import Path

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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_outputs(path):
    """Outputs are stripped everywhere. The expected text of # NBVAL_CHECK_OUTPUT cells lives
    in their metadata (tools/nbtool.py pin) and is plain text only; book/conftest.py gives
    it to nbval, which compares it on every run."""
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata, f"{path.name}: widget state saved in metadata"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{path.name} cell {i} has outputs: strip with tools/nbtool.py"
        assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
        for out in cell.metadata.get("angpt_expected", []):
            kinds = set(out.get("data", {})) or {out["output_type"]}
            assert kinds <= {"text/plain", "stream"}, f"{path.name} cell {i}: check cell expects {kinds}"
        if cell.source.lstrip().startswith(CHECK):
            assert cell.metadata.get("angpt_expected"), f"{path.name} cell {i}: check cell not pinned"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_starts_with_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert '"google.colab" in sys.modules' in first.source, f"{path.name}: no Colab install cell"
    assert "viz.setup()" in first.source, f"{path.name}: first code cell must call viz.setup()"
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


GENERATORS = sorted((ROOT / "tools").glob("make_ch*.py"))


@pytest.mark.parametrize("script", GENERATORS, ids=lambda p: p.name)
def test_generated_chapter_matches_its_script(script, tmp_path):
    """A chapter written by tools/make_chNN.py must be exactly what the script writes (edit the
    script, not the notebook), apart from outputs pinned by tools/nbtool.py."""
    import os
    import subprocess
    import sys

    subprocess.run([sys.executable, str(script)], check=True, capture_output=True,
                   env={**os.environ, "NB_OUT_DIR": str(tmp_path)}, cwd=ROOT / "tools")
    (generated,) = tmp_path.glob("*.ipynb")
    committed = BOOK / generated.name
    cells = lambda p: [(c.cell_type, c.source) for c in nbformat.read(p, as_version=4).cells]  # noqa: E731
    assert cells(generated) == cells(committed), f"{committed.name} differs from {script.name}: regenerate it"
