"""The built site in a real browser, offline: every page loads, every plotly figure draws,
every slider and dropdown changes what is shown, no unexpected console error appears."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import ROOT, SITE

# Console errors every Jupyter Book 1 page produces, harmless (book-tooling.md §1.2).
ALLOWED_ERRORS = (
    "THEBE_JS_URL",  # sphinx-thebe injects its config script twice
    "Got invalid theme mode",  # pydata-sphinx-theme
    "reading 'Queue'",  # ipywidgets calls the MathJax-2 API (ipywidgets#3829)
    "net::ERR_FAILED",  # the blocked outside requests below, reported by the browser
)
# Outside hosts a page may ask for; on the published site they load, offline they fail.
# Widget state needs require.js + html-manager from CDNs (myst-nb default), math uses MathJax.
ALLOWED_HOSTS = ("cdnjs.cloudflare.com", "cdn.jsdelivr.net", "unpkg.com")


def _pages() -> list[str]:
    pages = ["index.html"]
    pages += sorted(str(p.relative_to(SITE)) for p in (SITE / "book").glob("*.html"))
    return pages


def _open(page, url):
    errors, blocked = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        if r.request.url.startswith("http://127.0.0.1"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(url, wait_until="networkidle")
    return errors, blocked


def test_build_is_fresh():
    """The site under test was built from the current sources (make test builds it first)."""
    built = (SITE / "index.html").stat().st_mtime
    sources = [*ROOT.glob("book/*.ipynb"), *ROOT.glob("book/*.md"), *ROOT.glob("angpt/**/*.py"),
               ROOT / "_config.yml", ROOT / "_toc.yml"]
    stale = [str(p.relative_to(ROOT)) for p in sources if p.stat().st_mtime > built]
    assert not stale, f"site older than {stale}: run `make book`"


@pytest.mark.parametrize("path", _pages())
def test_page(page, site_url, path):
    """Loads offline, asks no unexpected host, no console error, figures draw, knobs work."""
    size = (SITE / path).stat().st_size
    assert size < 1_500_000, f"{path} weighs {size / 1e6:.1f} MB: figure data or widget state grew"
    errors, blocked = _open(page, f"{site_url}/{path}")
    assert page.title(), f"{path}: no title"
    bad_hosts = [u for u in blocked if not any(h in u for h in ALLOWED_HOSTS)]
    assert not bad_hosts, f"{path} asks outside hosts: {bad_hosts}"
    assert not [u for u in blocked if "plot.ly" in u or "plotly" in u], f"{path}: plotly from a CDN"
    # a table separator row left as text ('|---|', which smart dashes turn into '|—|')
    raw_tables = page.evaluate(
        r"[...document.querySelectorAll('article p')].filter(p => /\|\s*(-{3}|—|–)/.test(p.textContent)).length")
    assert raw_tables == 0, f"{path}: {raw_tables} Markdown table(s) shown as raw text"
    unexpected = [e for e in errors if not any(a in e for a in ALLOWED_ERRORS)]
    assert not unexpected, f"{path}: console errors {unexpected}"
    n_div = page.locator(".plotly-graph-div").count()
    if n_div:
        page.wait_for_function(
            "n => document.querySelectorAll('.plotly-graph-div .main-svg').length >= n", arg=n_div, timeout=15000)
        drawn = page.evaluate("""() => [...document.querySelectorAll('.plotly-graph-div')]
            .map(d => d.querySelectorAll('.main-svg').length > 0 && (d.data || []).length > 0)""")
        assert all(drawn), f"{path}: figures not drawn {drawn}"
        _check_knobs(page, path)


def _check_knobs(page, path):
    """Every slider and dropdown changes which traces are visible."""
    divs = page.locator(".plotly-graph-div")
    for i in range(divs.count()):
        div = divs.nth(i)
        div.scroll_into_view_if_needed()
        div.locator(".main-svg").first.wait_for(timeout=15000)
        if div.locator(".slider-container").count():
            _check_slider(page, div, i, path)
        if div.locator(".updatemenu-button").count():
            _check_dropdown(page, div, i, path)


def _visibility(page, i):
    return page.evaluate(
        "i => JSON.stringify([...document.querySelectorAll('.plotly-graph-div')][i].data.map(t => t.visible))", i)


def _check_slider(page, div, i, path):
    labels = div.locator(".slider-label")
    rail = div.locator(".slider-rail-rect").first.bounding_box()
    before = _visibility(page, i)
    # click under the last label, then (if that step was already active) under the first
    for target in (labels.nth(labels.count() - 1), labels.first):
        box = target.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, rail["y"] + rail["height"] / 2)
        page.wait_for_timeout(300)
        if _visibility(page, i) != before:
            return
    raise AssertionError(f"{path} figure {i}: slider did not change the figure")


def _check_dropdown(page, div, i, path):
    before = _visibility(page, i)
    button = div.locator(".updatemenu-button").first
    button.click(force=True)
    page.wait_for_timeout(200)
    options = div.locator(".updatemenu-dropdown-button")
    for k in range(options.count()):
        options.nth(k).click(force=True)
        page.wait_for_timeout(300)
        if _visibility(page, i) != before:
            return
        button.click(force=True)
        page.wait_for_timeout(200)
    raise AssertionError(f"{path} figure {i}: dropdown did not change the figure")
