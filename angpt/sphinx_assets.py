"""A tiny Sphinx extension: serve plotly.js once, from the site's own _static.

The book renderer (angpt.viz) emits figures without plotly.js; this extension puts
<script src="_static/plotly.min.js"> on every page and copies that file from the installed
plotly package at the end of an html build. No CDN, works offline, one cached copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PLOTLY_JS = "plotly.min.js"
CSS = "angpt.css"
# Figure captions (angpt.viz.show) are numbered per page by a CSS counter.
STYLE = """
body { counter-reset: angpt-figure; }
figure.angpt-figure { margin: 1em 0 1.5em; }
figure.angpt-figure figcaption { font-size: 0.9em; color: #444; margin-top: 0.3em; }
figure.angpt-figure figcaption::before {
  counter-increment: angpt-figure; content: "Figure " counter(angpt-figure) ". "; font-weight: 600;
}
"""


def _plotly_js() -> Path:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is plotly installed completely?")
    return path


def _copy(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_plotly_js(), static / PLOTLY_JS)
    (static / CSS).write_text(STYLE)


def setup(app):
    _plotly_js()  # fail early, at config time, if plotly.js is missing
    app.add_js_file(PLOTLY_JS)
    app.add_css_file(CSS)
    app.connect("build-finished", _copy)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
