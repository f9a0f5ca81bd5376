"""The appendix page 'Choices where the papers are silent' and the Colab cell of chapters 7-8.

* Every configuration field that is a modelling or recipe decision appears on the choices
  page (a new knob must be documented there), and every test the page cites exists.
* Chapters 7 and 8 open with the install cell derived from _config.yml, hidden on the site
  (tag remove-cell) but present for Colab readers.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import nbformat
import pytest

from angpt.colab import colab_install_cell
from angpt.config import ModelConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "choices.md"

# Fields that are not an open decision: sizes, which system, and run bookkeeping.
NOT_CHOICES = {
    "arch", "d_model", "n_layers", "n_heads", "vocab_size", "seq_len", "placement", "depth_scaling",
    "mix_fraction", "qk_norm",  # which scheme (set by its paper / preset)
    "steps", "batch_size", "lr", "eps", "eval_every", "eval_tokens", "seed", "device", "compile",
    "track_every", "ckpt_path", "ckpt_every",
}


def test_every_open_field_is_on_the_choices_page():
    text = PAGE.read_text(encoding="utf-8")
    names = {f.name for f in fields(ModelConfig)} | {f.name for f in fields(TrainConfig)}
    missing = sorted(n for n in names - NOT_CHOICES if f"`{n}`" not in text and f".{n}`" not in text)
    assert not missing, f"book/choices.md does not document {missing}"


def test_every_cited_test_exists():
    text = PAGE.read_text(encoding="utf-8")
    cited = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", text)
    assert cited, "the choices page cites no tests"
    for path, name in cited:
        file = ROOT / path
        assert file.is_file(), f"choices.md cites {path}, which does not exist"
        if name:
            assert re.search(rf"^def {name}\(", file.read_text(encoding="utf-8"), re.M), f"{path}::{name} missing"
    # a bare test name after a cited file ('and `test_x`') must exist in one of the cited files
    bare = set(re.findall(r"`(test_\w+)`", text))
    sources = "".join((ROOT / p).read_text(encoding="utf-8") for p, _ in cited)
    for name in bare:
        assert re.search(rf"^def {name}\(", sources, re.M), f"choices.md cites {name}, which no cited file defines"


@pytest.mark.parametrize("chapter", ["07_race", "08_ablations"])
def test_chapter_opens_with_the_colab_cell_from_the_config(chapter):
    nb = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source.startswith(colab_install_cell()), f"{chapter}: first code cell is not colab_install_cell()"
    assert "remove-cell" in first.metadata.get("tags", []), f"{chapter}: the install cell must be hidden on the site"
