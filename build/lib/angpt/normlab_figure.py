"""The norm lab on a static page (chapter 6): scrub through training, choose the grid point.

    fig = drift_scrubber(runs, archs=["gpt", "gpt+", "ngpt", "angpt"])

`runs` are norm-lab runs (`angpt.tracking.norm_lab_run`: dicts with 'arch', 'lr', 'depth'
and the recorder history 'norms'). The figure draws, for one grid point (learning rate,
depth), the norm of the residual stream after each block, one line per architecture, at
one training step. Two controls, both kernel-free:

- a dropdown over the grid points: it only toggles which traces are visible;
- a slider over the recorded training steps: it only restyles the traces' y values, for
  every grid point at once.

Because each control changes a different property, they compose: moving the slider keeps
the grid point, and switching the grid point keeps the step. The page carries the norms
rounded to 4 significant digits (a few kB for the quick grid).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from . import norms, viz

NEUTRAL = "#777777"  # the reference line at norm 1 (not an architecture colour)


def _sig(x: float, digits: int = 4) -> float | None:
    """Round to `digits` significant digits (small pages); None for a missing value."""
    return float(f"{x:.{digits}g}") if x is not None and np.isfinite(x) else None


def grid_points(runs: Sequence[dict], archs: Sequence[str]) -> list[tuple[float, int]]:
    """The (lr, depth) points for which every arch in `archs` has a run with records,
    sorted by depth, then learning rate."""
    have = {(r["arch"], r["lr"], r["depth"]) for r in runs if r.get("norms")}
    points = {(r["lr"], r["depth"]) for r in runs}
    return sorted((p for p in points if all((a, *p) in have for a in archs)), key=lambda p: (p[1], p[0]))


def _profiles(run: dict) -> tuple[list[int], np.ndarray]:
    """(steps, z): z[j] the mean residual norm after each block (0 = embedding) at record j."""
    entries = run["norms"]
    steps = [e["step"] for e in entries]
    return steps, np.array([norms.residual_profile(e["norms"])["mean"] for e in entries])


def _at(steps: list[int], z: np.ndarray, step: int) -> list:
    """The profile at the last record at or before `step` (a run that diverged stays at its
    last record; before its first record there is nothing to draw)."""
    j = int(np.searchsorted(steps, step, side="right")) - 1
    return [None] * z.shape[1] if j < 0 else [_sig(v) for v in z[j]]


def drift_scrubber(runs: Sequence[dict], *, archs: Sequence[str], active=None, step: int = -1,
                   height: int = 510) -> go.Figure:
    """Per-block residual norms of every arch at one (lr, depth), with a dropdown over the grid
    points and a slider over training steps (see the module docstring).

    active: the grid point shown first, an index into `grid_points(runs, archs)` or an
            (lr, depth) pair; default the last one (the deepest model at its highest lr).
    step:   the slider's starting position, an index into the recorded steps (-1: the last).
    """
    archs = list(archs)
    if not archs:
        raise ValueError("drift_scrubber needs at least one arch")
    points = grid_points(runs, archs)
    if not points:
        have = sorted({(r.get("arch"), r.get("lr"), r.get("depth")) for r in runs})
        raise ValueError(f"no (lr, depth) has a run with records for every arch in {archs}; runs: {have}")
    if active is None:
        active = len(points) - 1
    elif isinstance(active, tuple):
        if active not in points:
            raise ValueError(f"active={active!r} is not a grid point; valid choices: {points}")
        active = points.index(active)
    elif not 0 <= active < len(points):
        raise ValueError(f"active={active} is outside 0..{len(points) - 1}")

    table = {(r["arch"], r["lr"], r["depth"]): r for r in runs}
    series = {(a, *p): _profiles(table[(a, *p)]) for p in points for a in archs}  # (steps, z)
    all_steps = sorted({s for steps, _ in series.values() for s in steps})
    if not -len(all_steps) <= step < len(all_steps):
        raise ValueError(f"step={step} is outside 0..{len(all_steps) - 1} (the recorded steps)")
    step %= len(all_steps)
    keys = [(a, *p) for p in points for a in archs]  # trace order: grid point, then arch

    fig = go.Figure()
    for k, (a, lr, depth) in enumerate(keys):
        steps, z = series[(a, lr, depth)]
        fig.add_trace(go.Scatter(
            x=list(range(depth + 1)), y=_at(steps, z, all_steps[step]), mode="lines+markers",
            name=viz.label(a), legendgroup=a, line=dict(color=viz.color(a), width=2.5), marker=dict(size=7),
            visible=points[k // len(archs)] == points[active],
            hovertemplate=f"{viz.label(a)}<br>after block %{{x}}: ‖x‖ = %{{y:.3g}}<extra></extra>",
        ))

    # The slider restyles y only (every trace, every grid point): it keeps the grid point.
    slider_steps = [dict(method="restyle", label=str(s),
                         args=[{"y": [_at(*series[key], s) for key in keys]}, list(range(len(keys)))])
                    for s in all_steps]

    def axis(depth):  # x ticks: the embedding, then each block
        return {"xaxis.tickvals": list(range(depth + 1)),
                "xaxis.ticktext": ["emb"] + [str(l) for l in range(1, depth + 1)],
                "xaxis.range": [-0.3, depth + 0.3]}

    # The dropdown toggles visibility only: it keeps the step.
    buttons = [dict(method="update", label=f"lr {lr:g}, {depth} blocks",
                    args=[{"visible": [(kl, kd) == (lr, depth) for _, kl, kd in keys]}, axis(depth)])
               for lr, depth in points]

    values = np.concatenate([z.ravel() for _, z in series.values()])
    values = values[np.isfinite(values) & (values > 0)]
    lo, hi = float(min(values.min(), 1.0)), float(max(values.max(), 1.0))
    ticks = [m * 10.0 ** e for e in range(-3, 5) for m in (1, 3) if lo / 1.3 <= m * 10.0 ** e <= hi * 1.3]
    fig.add_hline(y=1, line=dict(color=NEUTRAL, dash="dot", width=1))
    fig.update_layout(
        height=height, margin=dict(l=60, r=20, t=125, b=40),
        # labelled 1-3-10 ticks: plotly's own log ticks label minor ticks "2" and "5" only
        yaxis=dict(title="‖x‖ after the block", type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks],
                   range=[np.log10(lo) - 0.1, np.log10(hi) + 0.1]),
        xaxis=dict(title="block (emb = the embedding)", **{k.split(".")[1]: v for k, v in axis(points[active][1]).items()}),
        legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom",
                    itemwidth=30, font=dict(size=11)),  # two rows on a phone: the menu sits above both
        updatemenus=[dict(buttons=buttons, active=active, direction="down", x=0, xanchor="left",
                          y=1.3, yanchor="bottom", showactive=True)],
        sliders=[dict(active=step, steps=slider_steps, currentvalue=dict(prefix="training step "),
                      pad=dict(t=60), x=0, len=1)],
    )
    return fig


__all__ = ["drift_scrubber", "grid_points"]
