"""The built site as a reader sees it, in a real browser with every outside request blocked.

On every page (1280 x 900): nothing is requested from outside the site, no unexpected console
error, no raw TeX visible, no output wider than its box, every plotly figure drawn and captioned,
the first figure within two screens, every slider and dropdown changes its figure (dropdowns are
opened by a click and another option chosen), and the page weighs less than its budget. On a
390 x 844 phone: no sideways scroll, figures tall enough and not squeezed beside their legend.

Page weight is counted as a static host sends it (gzip, level 6) over every file the page loads.
Budgets (see BUDGET_*): the page itself (HTML, theme CSS/JS/fonts, figure data) <= 300 kB on a
page without figures and <= 600 kB on a page with figures. The two shared libraries are
counted apart: plotly.js (1.5 MB) may be loaded only by a page that draws a figure and MathJax
(0.3 MB + fonts) only by a page with maths, both without blocking the first paint (`defer`);
a browser fetches each once for the whole site.
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .conftest import ROOT, SITE

BUDGET_TEXT_PAGE = 300_000  # bytes (gzip) a page without figures may load, MathJax apart
BUDGET_FIGURE_PAGE = 600_000  # the same for a page with figures, plotly.js and MathJax apart
PLOTLY_JS = "_static/plotly.min.js"
MATHJAX = "_static/mathjax/"
SCREEN = (1280, 900)
PHONE = (390, 844)

# Console errors every Jupyter Book 1 page produces, harmless (known noise of the Sphinx extensions, listed below).
ALLOWED_ERRORS = (
    "THEBE_JS_URL",  # sphinx-thebe injects its config script twice
    "Got invalid theme mode",  # pydata-sphinx-theme
)


def _pages() -> list[str]:
    return sorted(str(p.relative_to(SITE)) for p in (SITE / "book").glob("*.html"))


@lru_cache(maxsize=None)
def _gzip_size(path: str) -> int:
    return len(gzip.compress((SITE / path).read_bytes(), 6))


def _open(page, site_url, path, size):
    """Load `path`, blocking and recording every request that leaves the site."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    errors, outside, local = [], [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        url = r.request.url
        if url.startswith(site_url):
            local.append(url[len(site_url) + 1:].split("#")[0].split("?")[0])
            r.continue_()
        elif url.startswith("data:"):
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    page.route("**/*", route)
    page.goto(f"{site_url}/{path}", wait_until="networkidle")
    # MathJax typesets after load: wait for it (a page whose MathJax did not load shows raw TeX)
    page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    return errors, outside, local


def _wait_for_figures(page, path):
    n = page.locator(".plotly-graph-div").count()
    if n:
        page.wait_for_function(
            "n => [...document.querySelectorAll('.plotly-graph-div')].filter(d => d.querySelector('.main-svg')).length >= n",
            arg=n, timeout=20000)
    return n


RAW_TEX = r"""() => {
  const skip = 'pre, code, script, style, mjx-container, .cell_input, .highlight, mjx-assistive-mml';
  const root = document.querySelector('article') || document.body;
  const bad = [];
  // a pair of dollars, \( \) \[ \], or a TeX command; a lone '$' (as in $HOME) is prose
  const tex = /\$[^$]+\$|\$\$|\\\(|\\\)|\\\[|\\\]|\\(frac|sqrt|mathbb|mathrm|operatorname|alpha|beta|sigma|left|right|cdot|sum|lVert|langle|top|le|ge|in|to)\b/;
  const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip)) continue;
    const m = n.textContent.match(tex);
    if (m) bad.push(n.textContent.trim().slice(Math.max(0, m.index - 30), m.index + 40));
  }
  document.querySelectorAll('mjx-merror').forEach(e => bad.push('MathJax error: ' + e.textContent.slice(0, 60)));
  return bad;
}"""

# The elements that make the page wider than the window, outermost first (a box that scrolls
# its own content, like a code cell, is fine: only what the page itself must scroll counts).
STICKING_OUT = r"""() => {
  const W = window.innerWidth, out = [];
  const scrolls = e => { for (let p = e.parentElement; p; p = p.parentElement) {
    const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden') return true; } return false; };
  const shown = e => getComputedStyle(e).visibility !== 'hidden';  // the off-canvas table of contents is hidden
  for (const e of document.querySelectorAll('body *')) {
    const r = e.getBoundingClientRect();
    if (r.right > W + 0.5 && r.width > 0 && shown(e) && !scrolls(e) && !out.some(o => o[0].contains(e)))
      out.push([e, `${e.tagName.toLowerCase()}.${(e.getAttribute('class') || '').split(' ')[0]}`, r.right]);
  }
  // text that runs out of its box (a long unbreakable word) moves no element's edge
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let t = walk.nextNode(); t; t = walk.nextNode()) {
    const e = t.parentElement, range = document.createRange();
    range.selectNodeContents(t);
    const r = range.getBoundingClientRect();
    if (r.right > W + 0.5 && r.width > 0 && shown(e) && !scrolls(t) && !out.some(o => o[0].contains(e)))
      out.push([e, `text "${t.textContent.trim().slice(0, 60)}"`, r.right]);
  }
  return out.slice(0, 5).map(([e, what, right]) => `${what} right=${Math.round(right)}`);
}"""

OVERFLOW = r"""() => {
  const out = [];
  const col = (document.querySelector('article') || document.body).getBoundingClientRect();
  document.querySelectorAll('.cell_output, .cell_output *').forEach(el => {
    if (el.closest('.plotly-graph-div, mjx-container, script, style')) return;
    const r = el.getBoundingClientRect();
    if (!r.width) return;
    const ox = getComputedStyle(el).overflowX;
    const clipped = ox !== 'visible' && el.scrollWidth > el.clientWidth + 2;
    const sticks_out = r.right > col.right + 2;
    if (clipped || sticks_out)
      out.push(`${el.tagName.toLowerCase()}.${[...el.classList].join('.')} ` +
               (clipped ? `scrolls (${el.scrollWidth} > ${el.clientWidth} px)` : `sticks out (${Math.round(r.right - col.right)} px)`) +
               `: ${el.textContent.trim().slice(0, 50)}`);
  });
  return out;
}"""


def _figure_state(page, i):
    return page.evaluate("""i => { const d = [...document.querySelectorAll('.plotly-graph-div')][i];
        return JSON.stringify([d.data.map(t => [t.visible, String(JSON.stringify(t.y === undefined ? null : t.y)).slice(0, 4000)]),
                               d.layout.title && d.layout.title.text]); }""", i)


def _changed(page, i, before, timeout=3000):
    try:
        page.wait_for_function("""([i, before]) => { const d = [...document.querySelectorAll('.plotly-graph-div')][i];
            return JSON.stringify([d.data.map(t => [t.visible, String(JSON.stringify(t.y === undefined ? null : t.y)).slice(0, 4000)]),
                                   d.layout.title && d.layout.title.text]) !== before; }""",
                               arg=[i, before], timeout=timeout)
        return True
    except Exception:  # playwright's TimeoutError
        return False


def _check_slider(page, div, i, path):
    """Click the rail under another step's label: the figure must change."""
    labels = div.locator(".slider-label")
    assert labels.count() >= 2, f"{path} figure {i}: a slider with {labels.count()} step(s)"
    rail = div.locator(".slider-rail-rect").first.bounding_box()
    before = _figure_state(page, i)
    active = page.evaluate("i => [...document.querySelectorAll('.plotly-graph-div')][i].layout.sliders[0].active || 0", i)
    target = labels.nth(0 if active else labels.count() - 1).bounding_box()
    page.mouse.click(target["x"] + target["width"] / 2, rail["y"] + rail["height"] / 2)
    assert _changed(page, i, before), f"{path} figure {i}: moving the slider did not change the figure"


def _check_dropdown(page, div, i, path):
    """Open the menu with a click, pick another option: the figure must change."""
    header = div.locator(".updatemenu-header-group")
    assert header.count() == 1, f"{path} figure {i}: expected one dropdown, found {header.count()}"
    before = _figure_state(page, i)
    header.first.click(force=True)
    options = div.locator(".updatemenu-dropdown-button")
    try:
        options.first.wait_for(timeout=3000)
    except Exception:
        raise AssertionError(f"{path} figure {i}: clicking the dropdown did not open it") from None
    n = options.count()
    assert n >= 2, f"{path} figure {i}: a dropdown with {n} option(s) offers no choice"
    active = page.evaluate("i => [...document.querySelectorAll('.plotly-graph-div')][i].layout.updatemenus[0].active || 0", i)
    options.nth(0 if active else n - 1).click(force=True)
    assert _changed(page, i, before), f"{path} figure {i}: choosing another dropdown option did not change the figure"


def test_build_is_fresh():
    """The site under test was built from the current sources (make test builds it first)."""
    built = (SITE / "index.html").stat().st_mtime
    sources = [*ROOT.glob("book/*.ipynb"), *ROOT.glob("book/*.md"), *ROOT.glob("angpt/**/*.py"),
               ROOT / "_config.yml", ROOT / "_toc.yml"]
    stale = [str(p.relative_to(ROOT)) for p in sources if p.stat().st_mtime > built]
    assert not stale, f"site older than {stale}: run `make book`"


def test_index_leads_to_the_intro(page, site_url):
    """The redirect itself: the intro's URL is committed. (Waiting for the intro to finish
    loading, MathJax and plotly included, timed out at 5 s once on a loaded CI machine with the
    URL already right.)"""
    page.goto(f"{site_url}/index.html", wait_until="load")
    page.wait_for_url("**/book/intro.html", wait_until="commit", timeout=15000)


@pytest.mark.parametrize("path", _pages())
def test_page(page, site_url, path):
    """Every check runs; the failure lists all that failed on the page, not only the first."""
    problems: list[str] = []

    def check(ok, message):
        if not ok:
            problems.append(message)

    errors, outside, local = _open(page, site_url, path, SCREEN)
    check(page.title(), "no title")
    check(not outside, f"asks for outside addresses: {sorted(set(outside))}")
    unexpected = [e for e in errors if not any(a in e for a in ALLOWED_ERRORS)]
    check(not unexpected, f"console errors {unexpected[:5]}")
    # a path of the machine that built the book means nothing to its reader
    check(str(ROOT) not in page.content(), f"shows the build's own path {str(ROOT)!r}")

    # maths: typeset, never shown as TeX source
    raw = page.evaluate(RAW_TEX)
    check(not raw, f"{len(raw)} raw TeX span(s) visible, e.g. {raw[:3]}")
    # a table separator row left as text ('|---|', which smart dashes turn into '|—|')
    raw_tables = page.evaluate(
        r"[...document.querySelectorAll('article p')].filter(p => /\|\s*(-{3}|—|–)/.test(p.textContent)).length")
    check(raw_tables == 0, f"{raw_tables} Markdown table(s) shown as raw text")
    overflow = page.evaluate(OVERFLOW)
    check(not overflow, f"{len(overflow)} output(s) wider than the text column, e.g. {overflow[:2]}")

    # weight: the page itself, and the shared libraries only where needed, never render-blocking
    n_fig = _wait_for_figures(page, path)
    has_math = page.locator("article .math, article mjx-container").count() > 0
    own = sum(_gzip_size(f) for f in set(local) if (SITE / f).is_file()
              and f != PLOTLY_JS and not f.startswith(MATHJAX))
    budget = BUDGET_FIGURE_PAGE if n_fig else BUDGET_TEXT_PAGE
    check(own <= budget, f"loads {own / 1e3:.0f} kB (gzip), over its {budget / 1e3:.0f} kB budget")
    check((PLOTLY_JS in local) == (n_fig > 0), f"plotly.js loaded={PLOTLY_JS in local} with {n_fig} figure(s)")
    check(has_math or not any(f.startswith(MATHJAX) for f in local), "MathJax loaded on a page without maths")
    blocking = page.evaluate("""() => [...document.querySelectorAll('head script[src]')]
        .filter(s => /plotly|mathjax/i.test(s.src) && !s.defer && !s.async).map(s => s.src)""")
    check(not blocking, f"render-blocking scripts {blocking}")

    if n_fig:
        # figures: drawn, captioned, the first one within two screens, every knob works
        drawn = page.evaluate("""() => [...document.querySelectorAll('.plotly-graph-div')]
            .map(d => d.querySelectorAll('.main-svg').length > 0 && (d.data || []).length > 0)""")
        check(all(drawn), f"figures not drawn {drawn}")
        uncaptioned = page.evaluate("""() => [...document.querySelectorAll('.plotly-graph-div')].map((d, i) => {
            const f = d.closest('figure.angpt-figure'); const c = f && f.querySelector('figcaption');
            return c && c.textContent.trim() ? null : i; }).filter(i => i !== null)""")
        check(not uncaptioned, f"figure(s) {uncaptioned} without a caption (use angpt.viz.show(fig, caption))")
        top = page.evaluate("() => document.querySelector('.plotly-graph-div').getBoundingClientRect().top + window.scrollY")
        check(top < 2 * SCREEN[1], f"the first figure starts {top:.0f} px down, below the second screen")
        divs = page.locator(".plotly-graph-div")
        for i in range(divs.count()):
            div = divs.nth(i)
            div.scroll_into_view_if_needed()
            for has, knob_check in ((".slider-container", _check_slider), (".updatemenu-container", _check_dropdown)):
                if div.locator(has).count():
                    try:
                        knob_check(page, div, i, path)
                    except AssertionError as e:
                        problems.append(str(e).removeprefix(f"{path} "))

    # the same page on a phone
    page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
    page.evaluate("() => window.scrollTo(0, 0)")
    # plotly redraws responsive figures some time after a resize (longer on a loaded machine):
    # wait until the page fits, for at most 5 s, then name what sticks out
    try:
        page.wait_for_function("() => document.documentElement.scrollWidth <= window.innerWidth", timeout=5000)
    except PlaywrightTimeout:
        pass  # reported below, with the culprits
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    check(width[0] <= width[1], f"phone: the page scrolls sideways ({width[0]} > {width[1]} px): "
                                f"{page.evaluate(STICKING_OUT)}")
    sizes = page.evaluate("""() => [...document.querySelectorAll('.plotly-graph-div')].map(d => {
        const r = d.getBoundingClientRect();
        const areas = [...d.querySelectorAll('.nsewdrag')].map(a => a.getBoundingClientRect());
        const plot_w = areas.length ? Math.max(...areas.map(a => a.right)) - Math.min(...areas.map(a => a.left)) : r.width;
        return [Math.round(r.width), Math.round(r.height), Math.round(plot_w)]; })""")
    short = [i for i, (w, h, _) in enumerate(sizes) if h < 300]
    check(not short, f"phone: figure(s) {short} under 300 px tall: {[sizes[i] for i in short]}")
    squeezed = [i for i, (w, h, p) in enumerate(sizes) if p < 0.5 * w]
    check(not squeezed, f"phone: figure(s) {squeezed} draw their axes on under half the width "
                        f"(legend or margins take the rest): {[sizes[i] for i in squeezed]}")
    assert not problems, f"{path}: " + " | ".join(problems)
