"""Figure builders that more than one chapter uses.

One section per group of chapters, each marked with the chapters it serves. Figures are
built from precomputed numbers only (histograms are binned here, so a page carries bin
counts, not raw samples), and every knob goes through `viz.slider_figure` or
`viz.dropdown_figure`, so it works on the static site without a kernel.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from . import viz

# ======================================================================================
# Chapters 1-2: concentration of measure and the anGPT factors
# ======================================================================================

# Colours for things that are not presets (viz.COLORS is reserved for architectures).
SAMPLE_COLOUR = "#5B7FA3"      # measured: histograms, Monte Carlo points
THEORY_COLOUR = "#222222"      # closed forms and bounds
SERIES_COLOURS = viz.SERIES_COLORS  # dimensions, functions, factors, hook types: never an architecture's


def table(headers: Sequence[str], rows: Sequence[Sequence]):
    """A Markdown table for a notebook cell (renders in Jupyter and in the built book)."""
    from IPython.display import Markdown

    if any(len(r) != len(headers) for r in rows):
        raise ValueError(f"every row needs {len(headers)} cells (the headers: {list(headers)})")
    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return Markdown("\n".join(lines))


def histogram_trace(samples, bins: np.ndarray, *, name: str = "Monte Carlo",
                    colour: str = SAMPLE_COLOUR, **kw) -> go.Bar:
    """A density histogram as a bar trace: binned here, so only the counts reach the page."""
    bins = np.asarray(bins, dtype=float)
    if bins.ndim != 1 or len(bins) < 2 or np.any(np.diff(bins) <= 0):
        raise ValueError("bins must be an increasing 1-D array of at least two edges")
    counts, edges = np.histogram(np.asarray(samples, dtype=float), bins=bins, density=False)
    width = np.diff(edges)
    dens = counts / max(1, len(samples)) / width  # outside-range samples lower the mass, as they should
    return go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=dens, width=width, name=name,
                  marker=dict(color=colour, line=dict(width=0)), opacity=0.75, **kw)


def curve(x, y, *, name: str, colour: str = THEORY_COLOUR, dash: str | None = None, **kw) -> go.Scatter:
    """A line trace (closed forms, bounds)."""
    return go.Scatter(x=np.asarray(x, dtype=float), y=np.asarray(y, dtype=float), mode="lines",
                      name=name, line=dict(color=colour, dash=dash, width=2), **kw)


def histogram_slider(values: Sequence, samples: Callable[[object], np.ndarray], bins: np.ndarray, *,
                     label: str, density: Callable[[object, np.ndarray], np.ndarray] | None = None,
                     density_name: str = "closed form", x_title: str = "", titles=None,
                     active: int = 0, fmt: Callable[[object], str] = str) -> go.Figure:
    """Histogram of `samples(v)` with an optional closed-form density, one state per knob value."""
    bins = np.asarray(bins, dtype=float)
    xs = np.linspace(bins[0], bins[-1], 400)

    def traces(v):
        out = [histogram_trace(samples(v), bins)]
        if density is not None:
            out.append(curve(xs, density(v, xs), name=density_name))
        return out

    return viz.slider_figure(
        values, traces, label=label, active=active, fmt=fmt, titles=titles,
        layout=dict(xaxis=dict(title=x_title, range=[bins[0], bins[-1]]), yaxis=dict(title="density"),
                    bargap=0, legend=dict(x=0.99, xanchor="right", y=0.99)),
    )


def positive_or_none(values) -> list:
    """Probabilities for a log axis: zeros (below the Monte Carlo resolution) become gaps."""
    return [float(v) if v > 0 else None for v in np.asarray(values, dtype=float)]


def tail_traces(t, prob, bound, *, name: str, colour: str, bound_name: str | None = None) -> list:
    """Measured tail probabilities (markers) and the bound that should lie above them (dashed)."""
    out = [go.Scatter(x=np.asarray(t, dtype=float), y=positive_or_none(prob), mode="lines+markers",
                      name=name, line=dict(color=colour), marker=dict(size=4))]
    if bound is not None:
        out.append(go.Scatter(x=np.asarray(t, dtype=float), y=np.asarray(bound, dtype=float), mode="lines",
                              name=bound_name or f"bound ({name})", line=dict(color=colour, dash="dash")))
    return out
