"""Write book/10_other_schemes.ipynb (outputs stripped). Run: python tools/make_ch10.py"""

from nbbuild import write
from nbformat.v4 import new_code_cell as code, new_markdown_cell as md

cells = [
    md(r"""# Other ways to tame or remove normalization: Post-, Peri- and Mix-LN, LN-Scaling, DyT, TaperNorm

GPT+, nGPT and anGPT are not the only answers to "where should the normalization go, and do we
need it at all?". Six more have papers behind them, and each changes one line of the block.
With $N$ a normalizer (RMSNorm or LayerNorm, gain $\gamma$) and $F$ a sublayer:

| scheme | one sublayer | the idea |
|---|---|---|
| Pre-LN (`gpt`) | $x \leftarrow x + F(N(x))$ | the baseline of this chapter; the stream is never normalized |
| Post-LN | $x \leftarrow N(x + F(x))$ | the original Transformer: the norm sits on the stream |
| Mix-LN | Post-LN in the first quarter of the layers, Pre-LN after | early layers get gradient, late layers stay stable |
| Peri-LN | $x \leftarrow x + N_\text{out}(F(N_\text{in}(x)))$ | normalize what each sublayer *adds*, too |
| LN-Scaling | $x \leftarrow x + F\big(N(x)/\sqrt{\ell}\big)$ | damp the input of layer $\ell$ against the "curse of depth" |
| DyT | $N(x)$ replaced by $\gamma \odot \tanh(\alpha x)$ | no statistic at all, just a learned squashing |
| TaperNorm | $N(x)$ replaced by $g\,N(x) + (1-g)\,c\,\tilde\gamma \odot x$ | train with the norm, then hand it over to a fixed linear map |

TaperNorm's gate $g$ is one number for the whole model: 1 while an exponential moving average
calibrates $c$, then a half cosine down to 0, after which no per-token statistic is left and
$c\,\tilde\gamma$ folds into the next weight matrix, exactly as anGPT's constants do (chapter 9).

This chapter trains every preset of the book on the **same data, the same model size, the same
token budget and the same seeds**, each with the recipe its paper uses, and asks four things:
how good, how fast, how it treats the norm of the stream layer by layer, and whether the
normalization can be removed at inference.

**Predict first.** (1) Which schemes can drop every per-token statistic at inference without
changing a single output? (2) Sort Pre-LN, Post-LN, Peri-LN and LN-Scaling by how much the
norm of the residual stream grows from the first layer to the last."""),
    code(r"""import sys
if "google.colab" in sys.modules:  # Colab: install the book's library first
    %pip install -q "angpt[book] @ git+https://github.com/angpt-book/angpt"
import angpt
from angpt import viz
viz.setup()"""),
    md(r"""Everything below is one registered experiment, `schemes` (code in `angpt.schemes`): every
preset, trained with `TrainConfig.for_preset`, which adds to the GPT family's recipe (AdamW,
weight decay 0.1, clipping, cosine schedule) only what a scheme's paper needs: a 10 % warm-up
for Post-LN, Mix-LN and LN-Scaling (Post-LN does not train without one), LN-Scaling's plain
initialization (its README: no $1/\sqrt{2L}$ on output projections), DyT's $\alpha_0 = 0.5$
and its $\sqrt{d}$ embedding scale, TaperNorm's gate schedule. nGPT and anGPT keep their own
recipe (Adam, no warm-up). On top: TaperNorm with other gate schedules, and a model whose
*final* norm is tapered away, with and without the scale anchor.

The chapter runs the quick version live: a width-32, four-layer model for 24 steps on
Shakespeare, **one seed, on one CPU core** in under 20 seconds. It shows the code path and the
mechanisms at initialization, not which scheme wins. The full-size version (width 256, eight
layers, 300 steps of 64 × 256 bytes, three seeds, about 6 minutes on one H100) is run with

    python -m angpt run schemes --budget full --seeds 3 --out book/results/schemes.json

and shown below, with where it came from, whenever that file exists."""),
    code(r"""import math

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from angpt import experiments as E
from angpt import figures
from angpt import schemes as S

torch.set_num_threads(1)
quick = E.run("schemes", budget="quick", seeds=1, progress=False)   # the quick CPU run, live
full = E.load("results/schemes.json")                                # the GPU run, if it was made
sources = [("Quick CPU run", quick)] + ([] if full is None else [(f"Full size ({full['provenance']['device']})", full)])
print(E.describe(quick))
print(E.describe(full) if full is not None else
      "no results/schemes.json yet: only the quick CPU run below (see 'Reproducing the full-size results')")"""),
    code(r"""for name, res in sources:   # every finished run learned something; TaperNorm ends at g = 0 and folds exactly
    for r in res["runs"] + res["schedules"] + res["logit"]:
        assert r["final_val_loss"] is None or r["final_val_loss"] < math.log(256), (name, r["label"])
    taper = S.find(res["runs"], "tapernorm")
    if taper["diverged_at"] is None:
        assert taper["track"][-1]["gate"] == 0.0 and taper["fold"]["folds"] and taper["fold"]["rel_error"] <= 1e-5
    assert S.find(res["runs"], "angpt")["fold"]["rel_error"] <= 1e-5
assert all(r["diverged_at"] is None for r in quick["runs"]), "a quick run diverged"
"""),
    md(r"""## 1. Every scheme on the same data

The table has one row per preset: the final validation loss (nats per byte; with several seeds
the mean and the range), the tokens each needs to reach a **common target** (the worst mean
final loss of any scheme, so that every scheme gets there; in millions), the median time of a
training step relative to Pre-LN's in the same process and on the same device, and whether the
trained model folds: `angpt.fold` either removes every normalization statistic with the
relative error shown (checked in float32 on the CPU), or it cannot, for the reason given."""),
    code(r"""HEADERS = ["preset", "final val loss", "M tokens to target", "step time / Pre-LN", "folds at inference?"]
for name, res in sources:
    print(f"{name}: common target {res['summary']['target']:.3f} nats/byte, seeds {res['seeds']}")
    display(figures.table(HEADERS, [[viz.label(r[0])] + r[1:] for r in S.table_rows(res)]))"""),
    md(r"""The figure puts each scheme's validation loss next to Pre-LN's (the band is the range over
seeds); the dropdown picks the scheme."""),
    code(r"""def curve_traces(res, label, dash="solid"):
    runs = [r for r in res["runs"] if r["label"] == label and r["diverged_at"] is None]
    if not runs:   # every seed diverged: nothing to draw but an empty trace with the name
        return [go.Scatter(x=[], y=[], name=f"{viz.label(label)} (diverged)"), go.Scatter(x=[], y=[], showlegend=False)]
    tokens, losses = E.curves(res, label)
    x = tokens / 1e6
    return [viz.band(x, losses.min(0), losses.max(0), label, viz.color(label)),
            go.Scatter(x=x, y=losses.mean(0), mode="lines+markers", name=viz.label(label),
                       line=dict(color=viz.color(label), dash=dash))]

def curves_figure(res, source):
    others = [s for s in S.SCHEMES if s != S.BASELINE]
    def traces(label):
        return curve_traces(res, S.BASELINE, "dot") + curve_traces(res, label)
    return viz.dropdown_figure(
        others, traces, label="scheme", fmt=viz.label, active=others.index("tapernorm"),
        layout=dict(title=f"{source}: validation loss against Pre-LN (dotted), seeds {res['seeds']}",
                    xaxis_title="training tokens (millions)", yaxis_title="validation loss (nats/byte)", height=450))

curves_figure(quick, "Quick CPU run").show()"""),
    code(r"""# NBVAL_CHECK_OUTPUT
rows = {r[0]: r for r in S.table_rows(quick)}
print("fold at inference:", {k: v[4].split(",")[0].split(":")[0] for k, v in rows.items()})"""),
    md(r"""**What you should see.** The answer to question (1) is in the last column: only anGPT
(whose constants were derived for it) and TaperNorm (once $g = 0$) fold; TaperNorm keeps its
final norm (the paper's default, "Internal-Taper"; section 4 says why). DyT has no statistic but
its $\tanh$ is not linear, so it cannot be moved into a matrix. The other columns of the quick
run are *not* results: 24 steps measure how fast a recipe starts (warm-up lengths differ), and
step times of a width-32 model on a shared CPU measure Python overhead. Read the full-size
table for those, and compare differences between schemes with the seed ranges next to them."""),
    md(r"""## 2. What each scheme does to the norm of the stream

Each scheme is a rule for the size of three vectors per sublayer $k = 1, \dots, 2L$
(attention, MLP, attention, …): what the sublayer **reads**, what it **adds**, and the
**stream** after it. `angpt.schemes.sublayer_profile` measures all three on held-out text, as
the RMS $\lVert x\rVert/\sqrt{d}$ averaged over tokens (1 for a normalized vector with unit
gain), every few steps of training (seed 0). The dropdown picks the scheme; the dotted line is
the stream after the first step, the solid ones are the end of training."""),
    code(r"""def profile_figure(res, source):
    def traces(label):
        run = S.find(res["runs"], label)
        first, last = run["track"][0]["profile"], run["track"][-1]["profile"]
        c = viz.color(label)
        return [go.Scatter(x=last["k"], y=last["stream"], mode="lines+markers", name="stream after sublayer k", line=dict(color=c)),
                go.Scatter(x=first["k"], y=first["stream"], mode="lines", name=f"stream, step {run['track'][0]['step']}",
                           line=dict(color=c, dash="dot")),
                go.Scatter(x=last["k"], y=last["input"], mode="lines+markers", name="what sublayer k reads",
                           line=dict(color="#444444", dash="dash")),
                go.Scatter(x=last["k"], y=last["output"], mode="lines+markers", name="what sublayer k adds",
                           line=dict(color="#999999"))]
    return viz.dropdown_figure(
        list(S.SCHEMES), traces, label="scheme", fmt=viz.label, active=0,
        layout=dict(title=f"{source}: RMS per sublayer at the end of training (seed 0)", height=470,
                    xaxis_title="sublayer k (odd: attention, even: MLP)", yaxis_title="RMS ‖x‖/√d", yaxis_type="log"))

profile_figure(quick, "Quick CPU run").show()
for name, res in sources:
    print(f"{name}: growth exponent p of the stream, RMS ~ k^p over the sublayers (end of training):")
    print("   " + ",  ".join(f"{viz.label(s)} {S.growth_exponent(S.find(res['runs'], s)['track'][-1]['profile']):+.2f}"
                            for s in S.SCHEMES if S.find(res["runs"], s)["diverged_at"] is None))"""),
    code(r"""# NBVAL_CHECK_OUTPUT
first = {s: S.find(quick["runs"], s)["track"][0]["profile"] for s in ("gpt", "post-ln", "ln-scaling")}
print("after one step, rounded RMS per sublayer k = 1..8")
print("  Pre-LN, what it reads:     ", [round(v, 1) for v in first["gpt"]["input"]])
print("  LN-Scaling, what it reads: ", [round(v, 2) for v in first["ln-scaling"]["input"]])
print("  Post-LN, the stream:       ", [round(v, 1) for v in first["post-ln"]["stream"]])"""),
    md(r"""**What you should see.** Each rule is visible in one line of the figure:

- **Post-LN** pins the stream: after every sublayer its RMS is the norm's gain, about 1, from
  the first layer to the last (growth exponent $p \approx 0$). The price is that every
  gradient passes through $L$ normalizations on its way down, which is why it needs warm-up.
- **Pre-LN** lets the stream grow: each sublayer reads a normalized copy (RMS 1) and adds to
  the stream. Independent updates of similar size would give $p = 1/2$ ($\sqrt{k}$, chapter 3);
  trained models are often faster than that.
- **Peri-LN** normalizes what each sublayer adds, so the outputs have RMS $\approx 1$
  whatever happens inside (at the very first step the raw MLP outputs are so small that
  RMSNorm's $\epsilon$ still counts); the stream grows, but by a controlled amount per sublayer.
- **LN-Scaling** reads $1/\sqrt{\ell}$: 1, 0.71, 0.58, 0.5 in layers 1 to 4, exactly as the
  printed line says, so deep sublayers add less.
- **DyT** reads $\gamma\odot\tanh(\alpha x)$: never more than $|\gamma|$ per coordinate.
  With $\alpha_0 = 0.5$ and a small stream the $\tanh$ is still in its linear range, so what
  the sublayers read is *small*; it saturates only where $\alpha x$ grows past about 1.
- **TaperNorm** reads exactly what Pre-LN reads while $g = 1$; at $g = 0$ it reads
  $c\,\tilde\gamma\odot x$, a *linear* function of the stream, so its input grows with the
  stream. Section 3 follows that hand-over step by step."""),
    md(r"""## 3. TaperNorm's hand-over, and its gate schedule

Why can a fixed linear map replace RMSNorm at all? RMSNorm divides each token by its own
$r(h) = \lVert h\rVert/\sqrt{d}$. If the token norms at a layer **concentrate** (chapter 1),
$r(h)$ is nearly the same number for every token, and dividing by it is nearly multiplying by
one constant. TaperNorm measures that constant during the gate warm-up, as the least-squares
match between the two branches,

$$c^* = \arg\min_c \mathbb{E}\,\big\lVert \gamma\odot h/r(h) - c\,\gamma\odot h\big\rVert^2
      = \frac{\mathbb{E}\big[\lVert\gamma\odot h\rVert^2 / r(h)\big]}{\mathbb{E}\,\lVert\gamma\odot h\rVert^2},$$

with one exponential moving average for the numerator and one for the denominator
(`angpt.taper.TaperNorm`), then sets $c \leftarrow c^*$, $\tilde\gamma \leftarrow \gamma$ and lets
the gate fall. The paper's EMA decay, taper length and $\lambda$ are not public; our choices
(decay 0.99, gate warm-up over the first 25 % of the steps, cosine over the next 40 %) are
`TrainConfig` fields. Two numbers tell how well the hand-over can work: the **spread** of the
token norms entering each TaperNorm (std/mean: 0 would make the linear map exact) and the
**mismatch** $\lVert\gamma h/r(h) - c\tilde\gamma h\rVert / \lVert\gamma h/r(h)\rVert$ between the
branches, both averaged over the tapering norms. The slider moves through training: TaperNorm's
per-sublayer profile at that step, next to Pre-LN's at the same step."""),
    code(r"""def handover_figure(res, source):
    taper, pre = S.find(res["runs"], "tapernorm"), S.find(res["runs"], "gpt")
    steps = [e["step"] for e in taper["track"]]
    pre_at = {e["step"]: e["profile"] for e in pre["track"]}
    def traces(step):
        e = next(e for e in taper["track"] if e["step"] == step)
        p, q = e["profile"], pre_at[step]
        return [go.Scatter(x=p["k"], y=p["input"], mode="lines+markers", name="TaperNorm: what sublayer k reads",
                           line=dict(color=viz.color("tapernorm"))),
                go.Scatter(x=p["k"], y=p["stream"], mode="lines", name="TaperNorm: stream",
                           line=dict(color=viz.color("tapernorm"), dash="dot")),
                go.Scatter(x=q["k"], y=q["input"], mode="lines+markers", name="Pre-LN: what sublayer k reads",
                           line=dict(color=viz.color("gpt"))),
                go.Scatter(x=q["k"], y=q["stream"], mode="lines", name="Pre-LN: stream", line=dict(color=viz.color("gpt"), dash="dot"))]
    gate = dict(zip(steps, (e["gate"] for e in taper["track"])))
    return viz.slider_figure(
        steps, traces, label="step", active=len(steps) - 1, fmt=str,
        titles=lambda s: f"{source}: TaperNorm at step {s}, gate g = {gate[s]:.2f}",
        layout=dict(xaxis_title="sublayer k", yaxis_title="RMS ‖x‖/√d", yaxis_type="log", height=450))

def handover_stats_figure(res, source):
    t = S.taper_track(S.find(res["runs"], "tapernorm"))
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(x=t["step"], y=t["mismatch"], mode="lines+markers", name="branch mismatch (after calibration)",
                    line=dict(color=viz.color("tapernorm")))
    fig.add_scatter(x=t["step"], y=t["norm_cv"], mode="lines+markers", name="spread of the input token norms",
                    line=dict(color="#444444", dash="dash"))
    fig.add_scatter(x=t["step"], y=t["gate"], mode="lines", name="gate g", line=dict(color="#000000", width=1),
                    secondary_y=True)
    fig.update_layout(title=f"{source}: TaperNorm's hand-over (mean over the tapering norms)", height=400,
                      xaxis_title="step", yaxis_type="log")
    fig.update_yaxes(title_text="relative size", secondary_y=False)
    fig.update_yaxes(title_text="gate g", range=[0, 1.05], secondary_y=True)
    return fig

handover_figure(quick, "Quick CPU run").show()
handover_stats_figure(quick, "Quick CPU run").show()"""),
    md(r"""The knob of this section is the gate schedule. Each setting below is the same TaperNorm
model, same seed and batches, with another schedule (`angpt.schemes.SCHEDULES`): **paper** is
the paper's rule as quoted (gate warm-up = the learning-rate warm-up, 5 % of the steps here),
**default** ours (25 % at $g = 1$, then 40 % of cosine); the full run adds **switch** (drop the
norm at once after calibration), **short** (15 %) and **long** (70 %) tapers. The black line is
the gate; the grey dotted curve Pre-LN, which is TaperNorm with $g = 1$ forever."""),
    code(r"""def schedule_figure(res, source):
    runs = {"default": S.find(res["runs"], "tapernorm"), **{r["label"]: r for r in res["schedules"]}}
    names = [k for k in S.SCHEDULES if k in runs]
    pre = S.find(res["runs"], "gpt")
    steps_total = pre["train_config"]["steps"]
    def traces(name):
        r = runs[name]
        from angpt.config import TrainConfig
        from angpt.taper import gate_at, gate_steps
        k_w, k_t = gate_steps(TrainConfig(**r["train_config"]))
        ks = np.arange(0, steps_total + 1)
        return [go.Scatter(x=pre["evals"]["step"], y=pre["evals"]["val_loss"], mode="lines", name="Pre-LN",
                           line=dict(color=viz.color("gpt"), dash="dot")),
                go.Scatter(x=r["evals"]["step"], y=r["evals"]["val_loss"], mode="lines+markers", name=f"TaperNorm, {name}",
                           line=dict(color=viz.color("tapernorm"))),
                go.Scatter(x=ks, y=[gate_at(int(k), k_w, k_t) for k in ks], mode="lines", name="gate g",
                           line=dict(color="#000000", width=1), yaxis="y2")]
    def title(name):
        r = runs[name]
        end = "diverged at step %d" % r["diverged_at"] if r["diverged_at"] else f"final loss {r['final_val_loss']:.3f}"
        return f"{source}: gate schedule '{name}': {end} (Pre-LN {pre['final_val_loss']:.3f})"
    return viz.slider_figure(
        names, traces, label="schedule", active=names.index("default"), titles=title,
        layout=dict(xaxis_title="step", yaxis_title="validation loss (nats/byte)", height=450,
                    yaxis2=dict(title="gate g", overlaying="y", side="right", range=[0, 1.05])))

schedule_figure(quick, "Quick CPU run").show()
for name, res in sources:
    t = S.taper_track(S.find(res["runs"], "tapernorm"))
    runs = {"default": S.find(res["runs"], "tapernorm"), **{r["label"]: r for r in res["schedules"]}}
    print(f"{name}: at the end of the default schedule: branch mismatch {t['mismatch'][-1]:.3g}, "
          f"token-norm spread {t['norm_cv'][-1]:.3g}")
    for k, r in runs.items():
        end = "diverged" if r["final_val_loss"] is None else f"final loss {r['final_val_loss']:.3f}"
        print(f"   {k:>8}: calibrated c (mean over layers) {S.taper_track(r)['c'][-1]:7.3g}, {end}")"""),
    md(r"""**What you should see.** In the hand-over slider, TaperNorm and Pre-LN read the same
(RMS 1) while $g = 1$; once $g$ is 0, TaperNorm's sublayers read $c\,\tilde\gamma\odot x$, which
follows the stream, not 1. Whether that matters is what the mismatch curve says: the linear
branch stays close to the normalizer only while the stream keeps the scale it had during the
calibration, so a run whose stream grows after calibration has to learn its way back through
$\tilde\gamma$ and the weights. The schedule slider and the printed lines show the consequence of the
calibration window: the paper's rule calibrates on the first handful of steps, when the stream
still has roughly its initial scale, so its $c$ is the largest (about $1/\text{RMS}$ of the
initial stream); the longer the stream keeps growing after the calibration, the further off the
fixed map is. In a 60-step version of the quick run the paper's rule diverges at step 24,
halfway down the cosine, where our default trains (exercise 2); that is why our default
calibrates over a quarter of the run. In the paper's long runs
the learning-rate warm-up alone is thousands of steps."""),
    md(r"""## 4. Why the final norm is special: logit chasing

Take the logits $z = W h$ of the last stream vector $h$, $p = \operatorname{softmax}(z)$ and the
loss $\ell = -\log p_y$. The gradient is $\nabla_h \ell = W^\top (p - e_y)$, so its component
along $h$ is

$$-\langle \nabla_h \ell, h\rangle = (e_y - p)^\top W h = z_y - p^\top z .$$

Once the target's logit is above the softmax average of the logits (any token the model gets
roughly right), this is positive: **the loss falls if $h$ is simply made longer**, which sharpens
the softmax. Nothing stops that radial force, and the stream grows to chase larger logits. A
final RMSNorm removes it: $N(\lambda h) = N(h)$, so by Euler's identity $J_N(h)\,h = 0$ and the
radial component of the gradient is exactly zero (up to $\epsilon$). That is why TaperNorm's
default keeps the final norm, and why tapering it too ("All-Taper") needs an anchor: the
fixed-target scale loss

$$L = \text{CE} + \lambda\, \operatorname{mean}_{b,t} \big(s(h_{b,t}) - s_\text{tgt}\big)^2,$$

with $s$ the RMS of the pre-logit stream and $s_\text{tgt}$ its average during the gate
warm-up, frozen when the taper starts (`TrainConfig.aux_weight` $= \lambda$; the paper's value
is not public, we use $\lambda = 1$ here). Below, three runs with the same seed and batches:
Internal-Taper (final norm kept), All-Taper without the anchor, All-Taper with it. On the left
the RMS of the pre-logit stream, on the right the radial force measured on held-out text
(`angpt.taper.radial_gradient`: the cosine between $-\nabla_h\ell$ and $h$, averaged over tokens)."""),
    code(r"""LOGIT_STYLE = {"internal": ("Internal-Taper (final norm kept)", viz.color("tapernorm"), "solid"),
               "all-taper": ("All-Taper, no anchor", "#B2182B", "solid"),
               "all-taper+aux": (f"All-Taper + anchor (λ = {S.AUX_WEIGHT:g})", "#B2182B", "dash")}

def logit_figure(res, source):
    runs = {"internal": S.find(res["runs"], "tapernorm"), **{r["label"]: r for r in res["logit"]}}
    fig = make_subplots(rows=1, cols=2, subplot_titles=("RMS of the pre-logit stream", "radial force: cos(−∇ℓ, h)"))
    for key, (name, colour, dash) in LOGIT_STYLE.items():
        t = S.logit_track(runs[key])
        fig.add_scatter(x=t["step"], y=t["rms"], mode="lines+markers", name=name, line=dict(color=colour, dash=dash),
                        row=1, col=1)
        fig.add_scatter(x=t["step"], y=t["cos"], mode="lines+markers", name=name, line=dict(color=colour, dash=dash),
                        showlegend=False, row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_xaxes(title_text="step")
    fig.update_layout(title=f"{source}: logit chasing without the final norm (seed 0)", height=420)
    return fig

logit_figure(quick, "Quick CPU run").show()
for name, res in sources:
    internal = S.logit_track(S.find(res["runs"], "tapernorm"))
    assert max(abs(c) for c in internal["cos"]) < 1e-3, internal["cos"]   # 0-homogeneous final norm: no radial force
    print(f"{name}: radial force cos(−∇ℓ, h) at the end of training, per scheme: "
          + ", ".join(f"{viz.label(k)} {v['radial_cos']:+.3f}" for k, v in res["summary"]["schemes"].items()
                      if v["radial_cos"] is not None))
    print("   All-Taper without / with anchor: " + ", ".join(
        f"{r['label']}: final loss {r['final_val_loss']:.3f}, pre-logit RMS {min(S.logit_track(r)['rms']):.3g} to "
        f"{max(S.logit_track(r)['rms']):.3g} over the run, cos at the end {S.logit_track(r)['cos'][-1]:+.3f}"
        for r in res["logit"] if r["final_val_loss"] is not None))"""),
    md(r"""**What you should see.** With the final RMSNorm kept, the radial force is zero to three
decimals at every step, whatever the stream does: the theorem, measured. Without it the force is
not zero, and nothing holds the pre-logit scale: compare the printed ranges of its RMS over the
run without and with the anchor (in the quick run it swings by orders of magnitude while the gate
falls). With the anchor it is pulled back to the scale it had at calibration. The printed line also shows a scheme this argument covers without
being designed for it: DyT's final "norm" is $\gamma\odot\tanh(\alpha h)$, not 0-homogeneous, so
it has a radial force too; its $\tanh$ bounds the logits instead of removing the force."""),
    md(r"""## 5. Where the literature disagrees, and what these runs can say

| claim | source | what to look at here |
|---|---|---|
| Mix-LN beats Pre-LN and Post-LN (71M–1B) | Mix-LN paper (Li et al. 2025) | Mix-LN's row and seed range |
| Mix-LN **fails** (perplexity > 1000) at 350M and 1B, Post-LN from 250M on | LN-Scaling paper's Table 1 (another codebase) | Mix-LN's and Post-LN's "diverged" counts |
| LN-Scaling beats Pre-LN at every size (130M–1B, perplexity 26.7 → 25.8 at 130M) | LN-Scaling paper | LN-Scaling vs Pre-LN below |
| LN-Scaling gives **no gain**, DyT costs **6.5 %**, anGPT gains 1.3 % (reference not stated) | anGPT paper, via a summary | the same three numbers below |
| DyT matches RMSNorm on LLaMA 7B–70B | DyT paper | DyT vs Pre-LN below |
| Peri-LN beats Pre-LN (400M–3.2B), never diverges | Peri-LN paper | Peri-LN vs Pre-LN below |
| TaperNorm (Internal, +aux) within 0.7–1.5 % of RMSNorm (TinyStories, 1M–30M) | TaperNorm paper, via a summary | TaperNorm vs Pre-LN below |

The numbers are relative final losses, $100\,(L_\text{ref} - L)/L_\text{ref}$, paired by seed
(positive: better than the reference), with the range over seeds."""),
    code(r"""COMPARE = [("mix-ln", "gpt"), ("post-ln", "gpt"), ("ln-scaling", "gpt"), ("peri-ln", "gpt"), ("dyt", "gpt"),
           ("dyt", "gpt+"), ("ln-scaling", "gpt+"), ("angpt", "gpt+"), ("tapernorm", "gpt")]
for name, res in sources:
    s = res["summary"]["schemes"]
    print(f"{name} (seeds {res['seeds']}):")
    for label, ref in COMPARE:
        rel = S.relative_loss(res, label, ref)
        span = f" [{rel['min']:+.2f}, {rel['max']:+.2f}]" if rel["mean"] is not None and len(rel["values"]) > 1 else ""
        val = "n/a" if rel["mean"] is None else f"{rel['mean']:+.2f} %{span}"
        div = f", {s[label]['diverged']} of {len(res['seeds'])} seeds diverged" if s[label]["diverged"] else ""
        print(f"   {viz.label(label):>10} vs {viz.label(ref):<6} {val}{div}")
    pt = s["tapernorm"]["phase_step_time"]
    base = S.find(res["runs"], "gpt")["median_step_time"]
    print("   TaperNorm step time / Pre-LN's by gate phase: "
          + ", ".join(f"{k} {v / base:.2f}" for k, v in pt.items() if v is not None))"""),
    md(r"""**How far these runs can speak.** The papers disagree mostly about *size*: Mix-LN's
gains and its divergence are reported at different scales (up to 1B) and in different
codebases, and Post-LN's failures appear from 250M parameters on. Our full-size model has
about 8.5M parameters and sees about 5M bytes: it can show the mechanisms of sections 2–4
exactly, and it can tell apart schemes whose gap is larger than the seed range. It **cannot**
settle a claim about divergence at 350M parameters, nor a gap smaller than the seed range; a
scheme that does not diverge here is evidence about this size only. Where our sign differs
from a paper's, the most likely reasons are the budget (a few hundred steps favour recipes
that start fast) and the shared optimizer settings (one learning rate per family, tuned for
GPT+ in chapter 7). The step-time column is a measurement of eager PyTorch at a small width,
where launch overhead dominates: DyT's elementwise $\tanh$ and TaperNorm's extra multiply cost
little there, but say nothing about fused kernels at scale (the DyT paper reports parity after
`torch.compile`, TaperNorm up to 1.22× inference throughput after folding)."""),
    md(r"""### Full size

The same figures from `results/schemes.json` (three seeds on one H100), when that file exists."""),
    code(r"""if full is not None:
    source = f"Full size ({full['provenance']['device']})"
    curves_figure(full, source).show()
    profile_figure(full, source).show()
    handover_figure(full, source).show()
    handover_stats_figure(full, source).show()
    schedule_figure(full, source).show()
    logit_figure(full, source).show()
else:
    print("not run yet: the figures above are the quick CPU run")"""),
    md(r"""## Summary

- One block, seven rules: where the norm sits (Post, Pre, Peri, Mix), how the input is damped
  (LN-Scaling), what replaces it (DyT's $\tanh$, TaperNorm's gated hand-over). Each is a
  statement about the three sizes per sublayer (what it reads, adds, and the stream after it)
  and `angpt.schemes.sublayer_profile` shows it on a real model.
- Post-LN pins the stream; Pre-LN lets it grow; Peri-LN caps what each sublayer adds;
  LN-Scaling damps what deep sublayers read by $1/\sqrt{\ell}$; DyT bounds it.
- Only anGPT and TaperNorm (at $g = 0$) fold into plain matrices, with relative logit errors
  around $10^{-6}$ in float32; TaperNorm works because token norms concentrate, so one constant
  per layer stands in for $1/r(h)$ if it is calibrated at the scale the stream will keep.
- The final norm is different: without it the cross-entropy pushes the stream outward (logit
  chasing); a 0-homogeneous norm cancels that force exactly, a fixed-target anchor restrains it.
- Which scheme trains best at 8M parameters and 300 steps is in the full-size table, with its
  seed ranges; claims about divergence at hundreds of millions of parameters stay the papers'.

## Exercises

1. Show that $c^*$ above minimizes the expected squared mismatch, and that bias-corrected EMAs
   of the numerator and denominator give the same ratio as uncorrected ones (why?).
2. Train the quick TaperNorm run with the paper's rule for 60 and for 96 steps:
   `angpt.train(*angpt.schemes.scheme_configs("quick", "tapernorm", steps=60, gate_warmup=None))`.
   Where does it diverge, and what does the 96-step run reach against the default schedule?
   Print `c` of each layer against $1/r$ of that layer's input at the end of training.
3. `angpt.schemes.sublayer_profile` at initialization (no training) for Pre-LN with 4, 8, 16 and
   32 layers: fit the growth exponent $p$ and compare with chapter 3's $\sqrt{k}$ law.
4. Replace the anchor's $\lambda = 1$ by 0.01 (the value of a third-party sketch) in the
   All-Taper run (`angpt.schemes.scheme_configs("quick", "tapernorm", model_overrides={"taper_final": True},
   aux_weight=0.01)`). How far does the pre-logit RMS move now?
5. DyT has a radial force at its final "norm". Derive it for $\gamma\odot\tanh(\alpha h)$ and say
   when it vanishes."""),
]

write(cells, "10_other_schemes.ipynb")
