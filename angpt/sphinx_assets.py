"""A tiny Sphinx extension: the site serves every script it needs itself, and each page loads
only what it uses.

- **plotly.js** (4.8 MB) is copied from the installed plotly package into `_static` and added,
  with `defer`, only to pages whose body holds a plotly figure. The book renderer
  (`angpt.viz`) emits each figure's drawing code as `<script type="text/x-angpt-plotly">`,
  which the browser does not run; `angpt-plotly.js`, deferred after plotly.js, runs them once
  plotly has loaded. So no page blocks its first paint on plotly, and text pages never load it.
- **MathJax 3** is copied from the installed `django-static-mathjax` package (a plain copy of
  MathJax's own `es5` build) into `_static/mathjax`, and Sphinx's `mathjax_path` points there.
  Sphinx adds it, deferred, only to pages that contain maths.
- **ipywidgets state** is not embedded: rendering it needs require.js and the
  `@jupyter-widgets/html-manager` bundle, which no installed package ships (myst-nb would load
  both from CDNs). The `_config.yml` empties `nb_ipywidgets_js`, and the widget-state script is
  dropped here. Live widgets are for kernels; the static page has plotly sliders instead.
- **Font Awesome**: the theme loads all 2,000+ icons as a 1.5 MB script on every page; the
  copy in `_static` is cut down to the icons the site's pages and scripts name, and the theme
  CSS's brands webfont (118 kB, redundant with those SVG icons) is dropped. The solid and
  regular webfonts are subset (fontTools) to the codepoints the theme CSS draws for the icons
  in use and for its own pseudo-element icons.

- **Cell timeout**: a quick build (ANGPT_QUICK=1) caps each cell at `QUICK_CELL_TIMEOUT`.

No CDN, works offline; `tests/site` checks it in a browser with outside requests blocked.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

PLOTLY_JS = "plotly.min.js"
PLOTLY_LOADER = "angpt-plotly.js"
FIGURE_SCRIPT_TYPE = "text/x-angpt-plotly"  # angpt.viz writes figure scripts with this type
MATHJAX_DIR = "mathjax"
MATHJAX_JS = "tex-chtml.js"  # TeX in, CommonHTML out; extensions are autoloaded from input/tex
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
CSS = "angpt.css"
# Figure captions (angpt.viz.show) are numbered per page by a CSS counter. Outputs never widen
# the page: wide tables scroll inside their own box.
STYLE = """
body { counter-reset: angpt-figure; }
figure.angpt-figure { margin: 1em 0 1.5em; }
figure.angpt-figure figcaption { font-size: 0.9em; color: #444; margin-top: 0.3em; }
figure.angpt-figure figcaption::before {
  counter-increment: angpt-figure; content: "Figure " counter(angpt-figure) ". "; font-weight: 600;
}
figure.angpt-figure .plotly-graph-div { min-height: 320px; }
/* long dotted names (angpt.factor_checks.some_function) wrap on a phone instead of widening the page */
article h1, article h2, article h3, article h4, article .rubric { overflow-wrap: anywhere; }
/* so does any word longer than a phone's line in prose (a file path, a URL) */
article p, article li { overflow-wrap: break-word; }
/* a wide table scrolls inside its own box (on a phone), never the page */
article table { display: block; max-width: 100%; overflow-x: auto; }
/* inline maths in a cell's output (table cells) is not cut: MathJax's boxes overhang the
   theme's overflow:hidden span by a few pixels */
.cell_output span.math { overflow: visible !important; }
/* long inline code (dotted names, test ids) wraps on a phone instead of widening the page */
article code.literal span.pre { white-space: normal; overflow-wrap: anywhere; }
/* on a phone the theme's 42 px chapter titles take four lines and push the first figure down */
@media (max-width: 576px) {
  article h1 { font-size: 1.75rem; }
  article h2 { font-size: 1.4rem; }
  article h3 { font-size: 1.2rem; }
  article table { font-size: 0.85em; }  /* three columns of prose wrap less */
  article table td, article table th { padding: 0.35em 0.5em; }
}
"""
# Runs the figure scripts that angpt.viz marked, once plotly.js (deferred before it) is there.
LOADER = """
(function () {
  function draw() {
    if (!window.Plotly) { console.error("angpt: plotly.js did not load; figures are not drawn"); return; }
    document.querySelectorAll('script[type="%s"]').forEach(function (s) {
      s.type = "text/x-angpt-plotly-done";
      try { (new Function(s.textContent))(); } catch (e) { console.error(e); }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
""" % FIGURE_SCRIPT_TYPE


def _plotly_js() -> Path:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is plotly installed completely?")
    return path


def _mathjax_dir() -> Path:
    """MathJax's es5 build, as shipped by the django-static-mathjax package (import name `mathjax`)."""
    try:
        import mathjax
    except ImportError as e:
        raise ImportError("MathJax is served from the django-static-mathjax package: "
                          "pip install -r requirements.txt") from e
    path = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (path / MATHJAX_JS).is_file():
        raise FileNotFoundError(f"{path / MATHJAX_JS} not found: is django-static-mathjax installed completely?")
    return path


def _ignore_unused_mathjax(folder: str, names: list[str]) -> set[str]:
    """Copy tex-chtml.js and what it loads (fonts, TeX extensions, menu), not the other builds."""
    here = Path(folder)
    skip = {n for n in names if n.endswith(".js") and here == _mathjax_dir() and n != MATHJAX_JS}
    skip |= {n for n in names if n in ("sre", "svg", "svg.js", "node-main.js")}
    return skip


# -------------------------------------------------------------------------------- Font Awesome
# One icon in the theme's bundle: "name":[width,height,[aliases],"unicode",path-or-paths]
# (the minifier leaves a name unquoted where it is a plain identifier)
_ICON = re.compile(r'(?:"([a-z0-9-]+)"|\b([a-z][a-z0-9]*)):\[\d+,\d+,\[([^\]]*)\],"[0-9a-f]*",(?:"[^"]*"|\[[^\]]*\])\],?')
_FA_CLASS = re.compile(r"\bfa-([a-z0-9-]+)")


def subset_fontawesome(js: str, used: set[str]) -> str:
    """Drop every icon definition whose name and aliases are all unused (the runtime stays)."""
    def keep(m: re.Match) -> str:
        aliases = set(re.findall(r'"([a-z0-9-]+)"', m.group(3)))
        return m.group(0) if ({m.group(1) or m.group(2)} | aliases) & used else ""

    return _ICON.sub(keep, js)


# A CSS rule and the icon codepoints it draws with `content` (Font Awesome's private-use area).
_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_ICON_CODEPOINT = re.compile(r'content:\s*"\\([ef][0-9a-f]{3})"')


def used_codepoints(css: str, used: set[str]) -> set[int]:
    """The webfont codepoints the CSS can draw on the site's pages: those of rules naming a used
    `fa-` icon, and every one of rules that name no `fa-` icon at all (the theme's own icons,
    such as a dropdown's chevron)."""
    out: set[int] = set()
    for selector, body in _RULE.findall(css):
        codes = _ICON_CODEPOINT.findall(body)
        names = set(_FA_CLASS.findall(selector))
        if codes and (not names or names & used):
            out |= {int(c, 16) for c in codes}
    return out


def subset_webfont(path: Path, codepoints: set[int]) -> None:
    """Rewrite a woff2 font in place with only `codepoints` (fontTools; woff2 needs brotli)."""
    from fontTools import subset  # build-time only

    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = []  # icons use no ligatures or kerning
    options.notdef_outline = True
    font = subset.load_font(str(path), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(codepoints))
    subsetter.subset(font)
    subset.save_font(font, str(path), options)


def _used_icons(outdir: Path) -> set[str]:
    used: set[str] = set()
    for path in [*outdir.rglob("*.html"), *(outdir / "_static").rglob("*.js")]:
        if path.name != "fontawesome.js":
            used |= set(_FA_CLASS.findall(path.read_text(errors="ignore")))
    return used


# -------------------------------------------------------------------------------- Sphinx hooks
# A quick build's cells take seconds (the slowest, chapter 6's grid of 12 training runs, 23 s
# alone on one core, about 35 s beside the other jobs of `make test`), so a cell may take at
# most this long there. Why it matters beyond stuck cells: myst-nb's executor waits
# for each reply through pyzmq's asyncio poll, whose wake-up on the socket's edge-triggered
# event can be missed on a loaded machine; it then sleeps out the whole timeout and finds the
# reply already there. CI lost exactly 600 s (the configured timeout) on one cell that way.
QUICK_CELL_TIMEOUT = 75  # seconds


def _config_inited(app, config) -> None:
    config.mathjax_path = f"{MATHJAX_DIR}/{MATHJAX_JS}"
    from .config import budget  # torch-free

    if budget() == "quick" and (config.nb_execution_timeout or 0) > QUICK_CELL_TIMEOUT:
        config.nb_execution_timeout = QUICK_CELL_TIMEOUT


def _page_context(app, pagename, templatename, context, doctree) -> None:
    """Per page: plotly.js only where a figure is drawn; no widget state anywhere."""
    scripts = context.get("script_files")
    if scripts is not None:
        scripts[:] = [js for js in scripts if getattr(js, "attributes", {}).get("type") != WIDGET_STATE]
    if "plotly-graph-div" in context.get("body", ""):
        app.add_js_file(PLOTLY_JS, defer="defer", priority=800)
        app.add_js_file(PLOTLY_LOADER, defer="defer", priority=801)


def _copy(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    static = outdir / "_static"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_plotly_js(), static / PLOTLY_JS)
    (static / PLOTLY_LOADER).write_text(LOADER)
    (static / CSS).write_text(STYLE)
    target = static / MATHJAX_DIR
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(_mathjax_dir(), target, ignore=_ignore_unused_mathjax)
    fa = static / "scripts" / "fontawesome.js"
    if fa.is_file():
        full = fa.read_text()
        small = subset_fontawesome(full, _used_icons(outdir))
        fa.write_text(small)
        for extra in ("fontawesome.js.map",):  # the map describes the full file: drop it
            (fa.parent / extra).unlink(missing_ok=True)
    theme_css = static / "styles" / "pydata-sphinx-theme.css"
    if theme_css.is_file():
        # Brand icons (the repository button) are drawn as SVG by fontawesome.js: without its
        # @font-face the theme's CSS no longer fetches the 118 kB brands webfont first.
        theme_css.write_text(_BRANDS_FONT.sub("", theme_css.read_text()))
        # The solid and regular webfonts (156 + 25 kB) hold every icon; the site's CSS (the
        # theme's and sphinx-book-theme's) draws about twenty.
        used = _used_icons(outdir)
        codepoints = set().union(*(used_codepoints(f.read_text(errors="ignore"), used)
                                   for f in static.rglob("*.css")))
        for font in (static / "vendor" / "fontawesome").rglob("fa-*.woff2"):
            if "brands" not in font.name:
                subset_webfont(font, codepoints)


_BRANDS_FONT = re.compile(r"@font-face\{[^}]*fa-brands-400[^}]*\}")


def _poll_in_slices() -> None:
    """The build's notebook executor (myst-nb -> nbclient -> jupyter_client) waits for each
    kernel reply with one pyzmq asyncio poll of the whole cell timeout. When that poll misses
    the socket's wake-up it sleeps the timeout out and only then finds the reply (measured: a
    chapter that runs in 11 s 'executed in 84.98 s'). Polling in slices of at most 1 s bounds
    such a miss to 1 s; replies, errors and timeouts are unchanged. Only the build's Sphinx
    process is patched (this extension is loaded there)."""
    import time
    from queue import Empty

    from jupyter_client.channels import AsyncZMQSocketChannel

    async def get_msg(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            step = 1000 if left is None else max(0, min(1000, int(left * 1000)))
            if await self.socket.poll(step):
                return await self._recv()
            if left is not None and step == 0:
                raise Empty

    AsyncZMQSocketChannel.get_msg = get_msg


def setup(app):
    _poll_in_slices()
    _plotly_js()  # fail early, at config time, if plotly.js or MathJax is missing
    _mathjax_dir()
    app.add_css_file(CSS)
    app.connect("config-inited", _config_inited)
    app.connect("html-page-context", _page_context, priority=900)  # after myst-nb adds its scripts
    app.connect("build-finished", _copy)
    return {"version": "2", "parallel_read_safe": True, "parallel_write_safe": True}
