"""angpt.sphinx_assets without a browser: what it copies and how it cuts Font Awesome down."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from angpt import sphinx_assets


def _theme_fontawesome() -> str:
    theme = pytest.importorskip("pydata_sphinx_theme")
    path = Path(theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "static" / "scripts" / "fontawesome.js"
    return path.read_text()


def test_fontawesome_subset_keeps_used_icons_and_aliases_only():
    full = _theme_fontawesome()
    small = sphinx_assets.subset_fontawesome(full, {"github", "search", "moon"})
    assert len(small) < 0.1 * len(full)
    def has(name, js):  # the minifier quotes a name only where it is not an identifier
        return re.search(rf'[{{,]"?{name}"?:\[', js) is not None

    assert has("github", small) and has("moon", small)
    assert re.search(r'"magnifying-glass":\[[^\]]*"search"', small)  # kept through its alias
    assert has("rocket", full) and not has("rocket", small)
    assert has("mandalorian", full) and not has("mandalorian", small)
    assert small.count("(") == small.count(")") and small.count("{") == small.count("}")


def test_mathjax_and_plotly_come_from_installed_packages():
    mj = sphinx_assets._mathjax_dir()
    assert (mj / sphinx_assets.MATHJAX_JS).stat().st_size > 500_000
    assert (mj / "output" / "chtml" / "fonts" / "woff-v2" / "MathJax_Main-Regular.woff").is_file()
    assert sphinx_assets._plotly_js().stat().st_size > 1_000_000
