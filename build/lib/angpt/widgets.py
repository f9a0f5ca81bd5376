"""Live exploration in a kernel: the norm lab of chapter 6.

    lab = angpt.widgets.NormLab()     # pick arch, depth, width, lr, constraint; press Train
    lab                               # shows the panel (Jupyter, Colab)

The panel trains a small model with `angpt.train` and, through the loop's callback,
updates a plotly figure live: a heatmap of the residual-stream norm (depth x step) and
one curve per depth, with a progress bar. The logic lives in plain classes
(`LiveNormPlot`, `NormLab.train`) so a test drives it without a browser.

Python callbacks do not run on the static site: there the chapter shows precomputed runs
through plotly sliders (`lab_grid_figure`). This module and `angpt.viz` are the only ones
that import plotly and ipywidgets.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from . import norms as tr
from .config import PRESETS, ModelConfig, TrainConfig, budget, preset

# Diverging colours around norm 1 (white): blue below, red above, on a log10 scale so
# GPT's 0.2 and anGPT's 5 are equally far from the sphere.
NORM_COLORSCALE = "RdBu_r"
LOG_RANGE = 1.0  # the colour axis spans norms 10^-1 .. 10^1


def _has_anywidget() -> bool:
    try:
        import anywidget  # noqa: F401  plotly >= 6's FigureWidget is an anywidget
    except ImportError:
        return False
    return True


def depth_labels(n_layers: int) -> list[str]:
    """Residual stream after l blocks, l = 0..L: 'embed', 'block 1', ..., 'block L'."""
    return ["embed"] + [f"block {l}" for l in range(1, n_layers + 1)]


def residual_grid(entries: Sequence[dict]) -> tuple[list[int], np.ndarray]:
    """(steps, z) with z[l][j] the mean residual norm after l blocks at the j-th entry.

    entries: NormRecorder history entries (RunRecord.norms).
    """
    steps = [e["step"] for e in entries]
    cols = [tr.residual_profile(e["norms"])["mean"] for e in entries]
    return steps, np.array(cols).T if cols else np.zeros((0, 0))


def norm_heatmap(steps, z, *, n_layers: int, name: str = "", showscale: bool = True, **kw) -> go.Heatmap:
    """A depth x step heatmap of residual norms, coloured by log10 norm (white = 1)."""
    z = np.asarray(z, dtype=float)
    with np.errstate(divide="ignore"):
        logz = np.log10(np.where(z > 0, z, np.nan)) if z.size else z
    return go.Heatmap(
        x=list(steps), y=depth_labels(n_layers), z=logz.tolist(), customdata=z.tolist(), name=name,
        colorscale=NORM_COLORSCALE, zmin=-LOG_RANGE, zmax=LOG_RANGE, zmid=0.0, showscale=showscale,
        # a thin horizontal scale above the plots: on a phone a vertical one takes half the width
        # (three ticks: five collide on a phone), clear of the panel titles
        colorbar=dict(title=dict(text="‖x‖", side="right"), tickvals=[-1, 0, 1],
                      ticktext=["0.1", "1", "10"], orientation="h", thickness=10,
                      x=0.5, xanchor="center", y=1.09, yanchor="bottom", len=0.6),
        hovertemplate="step %{x}<br>%{y}<br>‖x‖ = %{customdata:.3g}<extra>" + name + "</extra>", **kw,
    )


def depth_colors(n_layers: int) -> list[str]:
    return sample_colorscale("Viridis", [l / max(1, n_layers) for l in range(n_layers + 1)])


class LiveNormPlot:
    """Heatmap (depth x step) of the residual norm and one curve per depth, fed live.

    `update(entry)` appends one NormRecorder entry; `figure` is a plotly FigureWidget when
    the kernel can show one (plotly needs the anywidget package), else a go.Figure that
    `output` (an ipywidgets.Output) re-displays at most every `min_interval` seconds.
    """

    def __init__(self, n_layers: int, widget: bool | None = None, min_interval: float = 0.2):
        self.use_widget = _has_anywidget() if widget is None else widget
        self.min_interval = min_interval
        self.output = None
        self._last_draw = 0.0
        self.reset(n_layers)

    def _make_figure(self, n_layers: int):
        fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.14,
                            subplot_titles=("residual norm, depth × step", "per depth"))
        fig.add_trace(norm_heatmap([], np.zeros((n_layers + 1, 0)), n_layers=n_layers, name="‖x‖",
                                   colorbar_x=0.47), row=1, col=1)
        for l, (lab, col) in enumerate(zip(depth_labels(n_layers), depth_colors(n_layers))):
            fig.add_trace(go.Scatter(x=[], y=[], mode="lines+markers", name=lab, line=dict(color=col)),
                          row=1, col=2)
        fig.update_xaxes(title_text="step")
        fig.update_yaxes(title_text="‖x‖ (mean over tokens)", type="log", row=1, col=2)
        fig.update_layout(height=440, margin=dict(l=60, r=20, t=110, b=50), legend=dict(font=dict(size=10)))
        return go.FigureWidget(fig) if self.use_widget else fig

    def reset(self, n_layers: int) -> None:
        """Start an empty figure for a model of `n_layers` blocks."""
        if not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"n_layers must be a positive integer, got {n_layers!r}")
        self.n_layers = n_layers
        self.entries: list[dict] = []
        # The figure's data, grown one column per record: steps, norms (depth x capacity) and
        # their log10 (the heatmap's colour). Capacity doubles when full, so a record costs
        # O(1) amortized here; only the hand-off to plotly copies the arrays (a memcpy).
        self._steps = np.zeros(64)
        self._z = np.zeros((n_layers + 1, 64))
        self._logz = np.zeros((n_layers + 1, 64))
        fig = self._make_figure(n_layers)
        if self.use_widget and getattr(self, "figure", None) is not None and isinstance(self.figure, go.FigureWidget):
            # keep the same widget on screen: swap its data and layout in place
            with self.figure.batch_update():
                self.figure.data = []
                self.figure.layout = fig.layout
                self.figure.add_traces(list(fig.data))
        else:
            self.figure = fig
            self._redraw(force=True)

    def update(self, entry: dict) -> None:
        """Add one recorder entry (a dict with 'step' and 'norms') and refresh the figure.

        Only the new entry is read (the earlier ones are kept as arrays), so a record costs
        the same at step 10 as at step 10 000, apart from plotly copying the arrays.
        """
        if not entry or "norms" not in entry:
            raise ValueError(f"update needs a NormRecorder entry with 'step' and 'norms', got {entry!r}")
        col = tr.residual_profile(entry["norms"])["mean"]              # (L+1,) this record only
        n = self.n_layers + 1
        if len(col) != n:
            raise ValueError(f"entry has {len(col) - 1} blocks, the plot was reset for {self.n_layers}")
        j = len(self.entries)
        if j == self._z.shape[1]:                                      # full: double the capacity
            self._steps = np.concatenate([self._steps, np.zeros_like(self._steps)])
            self._z = np.concatenate([self._z, np.zeros_like(self._z)], axis=1)
            self._logz = np.concatenate([self._logz, np.zeros_like(self._logz)], axis=1)
        self.entries.append(entry)
        self._steps[j] = entry["step"]
        self._z[:, j] = col
        with np.errstate(divide="ignore", invalid="ignore"):
            self._logz[:, j] = np.where(col > 0, np.log10(np.where(col > 0, col, 1.0)), np.nan)
        steps, z, logz = self._steps[: j + 1], self._z[:, : j + 1], self._logz[:, : j + 1]
        # one restyle for all traces, with numpy arrays: plotly validates a list element by
        # element (O(records) per trace), an array in one step
        fig = self.figure
        batch = fig.batch_update() if isinstance(fig, go.FigureWidget) else _nullcontext()
        with batch:  # a FigureWidget sends one message to the browser
            fig.plotly_restyle({"x": [steps], "z": [logz], "customdata": [z]}, [0])
            fig.plotly_restyle({"x": [steps] * n, "y": list(z)}, list(range(1, n + 1)))
        self._redraw()

    def _redraw(self, force: bool = False) -> None:
        """Without a FigureWidget, re-display the figure in `output` (throttled)."""
        if self.use_widget or self.output is None:
            return
        now = time.perf_counter()
        if force or now - self._last_draw >= self.min_interval:
            self._last_draw = now
            from IPython.display import display

            with self.output:
                self.output.clear_output(wait=True)
                display(self.figure)

    def view(self):
        """The widget to put on screen."""
        if self.use_widget:
            return self.figure
        import ipywidgets as W

        if self.output is None:
            self.output = W.Output()
            self._redraw(force=True)
        return self.output


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --------------------------------------------------------------------------------------
# The panel
# --------------------------------------------------------------------------------------

WIDTHS = (32, 64, 128, 256, 512, 1024)


def default_sizes(size: str | None = None) -> dict:
    """The lab's starting knobs: small on a CPU (quick), larger on a GPU (full)."""
    size = size or budget()
    if size == "quick":
        return dict(depth=4, width=64, steps=100, batch_size=8, seq_len=64, track_every=5)
    return dict(depth=8, width=256, steps=1000, batch_size=32, seq_len=256, track_every=25)


class NormLab:
    """The norm lab: knobs, a Train button, a progress bar and the live figure.

    Knobs: arch (every preset in angpt.PRESETS, trained with TrainConfig.for_preset:
    its paper's recipe), depth, width d_model, learning rate,
    weight constraint on/off (nGPT/anGPT: the arch's own; off trains without it; the GPT
    family has none), number of steps. `train()` is what the button runs; tests call it
    directly. Each knob change only re-validates the configuration (fast); training runs
    in the kernel and reports progress through angpt.train's callback.
    """

    def __init__(self, size: str | None = None, corpus="shakespeare", n_heads: int | None = None, **knobs):
        import ipywidgets as W

        d = {**default_sizes(size), **knobs}
        bad = sorted(set(knobs) - set(default_sizes("quick")) - {"arch", "lr", "constraint"})
        if bad:
            raise ValueError(f"unknown knob(s) {bad}; valid: {sorted([*default_sizes('quick'), 'arch', 'lr', 'constraint'])}")
        self.corpus, self.n_heads = corpus, n_heads
        self.batch_size, self.seq_len, self.track_every = d["batch_size"], d["seq_len"], d["track_every"]
        arch = d.get("arch", "angpt")
        if arch not in PRESETS:
            raise ValueError(f"unknown preset {arch!r}; valid choices: {', '.join(map(repr, PRESETS))}")
        style = {"description_width": "90px"}
        self.arch = W.Dropdown(options=list(PRESETS), value=arch, description="arch", style=style)
        self.depth = W.IntSlider(value=d["depth"], min=1, max=24, description="depth", style=style)
        self.width = W.Dropdown(options=sorted(set(WIDTHS) | {d["width"]}), value=d["width"],
                                description="width d", style=style)
        lr = d.get("lr", TrainConfig.for_preset(arch).lr)
        self.lr = W.FloatLogSlider(value=lr, base=10, min=-4.5, max=-1, step=0.25, description="learning rate",
                                   readout_format=".1e", style=style)
        self.constraint = W.Checkbox(value=d.get("constraint", True), description="weight constraint", indent=False)
        self.steps = W.IntSlider(value=d["steps"], min=10, max=max(5000, d["steps"]), step=10,
                                 description="steps", style=style)
        self.button = W.Button(description="Train", button_style="primary", icon="play")
        self.progress = W.IntProgress(value=0, min=0, max=d["steps"], description="0 steps", style=style)
        self.status = W.HTML()
        self.plot = LiveNormPlot(self.depth.value)
        self.run = None  # the last RunRecord
        for knob in self.knobs:
            knob.observe(self.on_change, names="value")
        self.button.on_click(self.train)
        self.on_change()

    @property
    def knobs(self):
        return (self.arch, self.depth, self.width, self.lr, self.constraint, self.steps)

    # ---- configuration ----------------------------------------------------------------
    def heads(self, width: int) -> int:
        """Heads of width 16 or more, at most 8 (d_model must divide evenly)."""
        if self.n_heads:
            return self.n_heads
        return max(1, min(8, width // 32))

    def configs(self) -> tuple[ModelConfig, TrainConfig]:
        """The ModelConfig and TrainConfig the knobs describe (ValueError if invalid)."""
        name = self.arch.value
        over = dict(d_model=self.width.value, n_layers=self.depth.value, n_heads=self.heads(self.width.value),
                    seq_len=self.seq_len)
        if PRESETS[name]["arch"] in ("ngpt", "angpt") and not self.constraint.value:
            over["weight_constraint"] = "none"
        cfg = preset(name, **over)
        steps = self.steps.value
        tcfg = TrainConfig.for_preset(name, steps=steps, lr=float(self.lr.value), batch_size=self.batch_size,
                                    track_every=self.track_every, eval_every=0, eval_tokens=4 * self.seq_len * 8)
        return cfg, tcfg

    def on_change(self, change=None) -> None:
        """A knob moved: adapt the dependent knobs, re-validate, say what Train will do."""
        if change is not None and change.get("owner") is self.arch:
            self.lr.value = TrainConfig.for_preset(self.arch.value).lr  # each paper's own learning rate
        family = PRESETS[self.arch.value]["arch"]
        self.constraint.disabled = family == "gpt"  # the GPT family has no weight constraint
        self.constraint.description = {"gpt": "weight constraint (none in GPT)", "ngpt": "‖w‖ = 1 (nGPT)",
                                       "angpt": "‖w‖ ≤ 1 (anGPT)"}[family]
        self.progress.max = self.steps.value
        try:
            cfg, tcfg = self.configs()
        except ValueError as err:
            self.status.value = f"<span style='color:#b00'>{err}</span>"
            self.button.disabled = True
            return
        self.button.disabled = False
        self.status.value = (f"{cfg.arch} · d={cfg.d_model}, {cfg.n_layers} blocks, {cfg.n_heads} heads · "
                             f"lr {tcfg.lr:.1e}, {tcfg.steps} steps of {tcfg.batch_size}×{cfg.seq_len} tokens · "
                             f"constraint {cfg.constraint!r} · norms every {tcfg.track_every} steps")

    # ---- training -----------------------------------------------------------------------
    def callback(self, step: int, record) -> None:
        """angpt.train's callback: move the progress bar; draw the norm records not yet drawn
        (the step-0 record is taken before the first step, so it arrives with step 1)."""
        self.progress.value = step
        self.progress.description = f"{step} steps"
        for entry in record.norms[len(self.plot.entries):]:
            self.plot.update(entry)

    def train(self, _button=None):
        """Train with the current knobs, updating the figure live. Returns the RunRecord
        (None if the configuration is invalid or training diverged; `status` says why)."""
        from .train import DivergenceError, train

        try:
            cfg, tcfg = self.configs()
        except ValueError as err:
            self.status.value = f"<span style='color:#b00'>{err}</span>"
            return None
        self.button.disabled = True
        self.progress.value, self.progress.max = 0, tcfg.steps
        self.plot.reset(cfg.n_layers)
        t0 = time.perf_counter()
        try:
            # train() records norms every track_every steps on a fixed validation batch
            self.run = train(cfg, tcfg, corpus=self.corpus, callback=self.callback, progress=False)
        except DivergenceError as err:
            self.status.value = f"<span style='color:#b00'>diverged: {err}</span>"
            return None
        finally:
            self.button.disabled = False
        loss = self.run.final_val_loss
        self.status.value = (f"done: {tcfg.steps} steps in {time.perf_counter() - t0:.1f} s on "
                             f"{self.run.device}; val loss {loss:.3f} nats/byte")
        return self.run

    # ---- display ----------------------------------------------------------------------
    @property
    def widget(self):
        import ipywidgets as W

        left = W.VBox([self.arch, self.depth, self.width, self.lr])
        right = W.VBox([self.constraint, self.steps, W.HBox([self.button, self.progress])])
        return W.VBox([W.HBox([left, right]), self.status, self.plot.view()])

    def _ipython_display_(self):
        import sys

        from IPython.display import display

        if "google.colab" in sys.modules:  # Colab draws third-party widgets (plotly's) only with this
            from google.colab import output

            output.enable_custom_widget_manager()
        display(self.widget)


# --------------------------------------------------------------------------------------
# Static figures (kernel-free, for the book page)
# --------------------------------------------------------------------------------------


def lab_grid_figure(runs: Sequence[dict], *, archs: Sequence[str], values: Sequence, knob: str,
                    fmt=str, title: str = "", active: int = 0) -> go.Figure:
    """One heatmap per arch (a row of subplots), with a slider over `values` of `knob`
    (opening at `values[active]`).

    runs: dicts with 'arch' (a preset name), knob (e.g. 'lr') and 'norms' (recorder
    entries). Every state of the slider shows len(archs) heatmaps; the slider toggles
    trace visibility, so it works on the static site.
    """
    archs, values = list(archs), list(values)
    if not -len(values) <= active < len(values):
        raise ValueError(f"active={active} is outside 0..{len(values) - 1}")
    active %= len(values)
    table = {(r["arch"], r[knob]): r for r in runs}
    missing = [(a, v) for a in archs for v in values if (a, v) not in table]
    if missing:
        raise ValueError(f"lab_grid_figure: no run for {missing}")
    from . import viz

    n_layers = {a: len(tr.residual_profile(table[(a, values[0])]["norms"][0]["norms"])["depth"]) - 1 for a in archs}
    fig = make_subplots(rows=1, cols=len(archs), subplot_titles=[viz.label(a) for a in archs],
                        shared_yaxes=True, horizontal_spacing=0.03)
    n = len(archs)
    for i, v in enumerate(values):
        for j, a in enumerate(archs):
            steps, z = residual_grid(table[(a, v)]["norms"])
            fig.add_trace(norm_heatmap(steps, z, n_layers=n_layers[a], name=viz.label(a),
                                       showscale=j == n - 1, visible=i == active), row=1, col=j + 1)
    steps_ = []
    for i, v in enumerate(values):
        visible = [k // n == i for k in range(n * len(values))]
        steps_.append(dict(method="update", args=[{"visible": visible}], label=fmt(v)))
    fig.update_layout(sliders=[dict(active=active, steps=steps_, currentvalue=dict(prefix=f"{knob} = "),
                                    pad=dict(t=50))],
                      title_text=title or None, height=470, margin=dict(t=140 if title else 100))
    fig.update_xaxes(title_text="step", nticks=3, tickangle=0)  # panels are ~70 px wide on a phone
    return fig


__all__ = ["LiveNormPlot", "NormLab", "lab_grid_figure", "norm_heatmap", "residual_grid", "depth_labels",
           "default_sizes"]
