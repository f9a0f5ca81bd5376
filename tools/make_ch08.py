"""Write book/08_ablations.ipynb (outputs stripped). Run: python tools/make_ch08.py"""

from nbbuild import write
from nbformat.v4 import new_code_cell as code, new_markdown_cell as md

cells = [
    md(r"""# Ablations: the ladder from GPT to anGPT, and what breaks without ν(α)

anGPT is GPT with a handful of changes, and the paper takes them apart one at a time. Its
ablation (0.5B parameters, 10B tokens of OpenWebText) climbs a ladder, each rung adding one
ingredient, and reports each rung's improvement over the first:

| rung | what it adds | paper |
|---|---|---|
| GPT | pre-LN RMSNorm, no QK-norm, AdamW with weight decay and warm-up | baseline |
| GPT+ | QK-norm | +2.1 % |
| nGPT | every vector on the unit sphere, exact normalization after every sublayer | +3.0 % |
| nGPT, $\lVert w\rVert \le 1$ | weights *bounded* instead of normalized to exactly 1 | +3.4 % |
| anGPT | every exact normalization of the stream replaced by a constant $\nu$ | +3.8 % |

(The percentages are presumably relative final validation losses; methods.md §4.9.) Then
the paper removes or perturbs single pieces of anGPT. It calls the LERP factor
$\nu(\alpha) = 1/\sqrt{\alpha^2 + (1-\alpha)^2}$ the most critical one, says errors below
about 2 % in the other factors are harmless, and finds the largest gain, 2.0× fewer tokens,
when nobody gets QK-norm. This chapter repeats all four experiments on the same data,
budget and seeds for every variant:

1. the ladder;
2. anGPT without $\nu(\alpha)$ (`lerp_factor=False`);
3. every other constant factor scaled by 0.5 … 1.5 (`factor_scale`);
4. no QK-norm anywhere.

**Predict first.** Drop $\nu(\alpha)$ from anGPT's residual update. Do you expect (a)
nothing measurable, (b) a somewhat worse loss, or (c) a run that blows up? And if every
other factor is 10 % off?"""),
    code(r"""import sys
if "google.colab" in sys.modules:  # Colab: install the book's library first
    %pip install -q "angpt[book] @ git+https://github.com/angpt-book/angpt"
import angpt
from angpt import viz
viz.setup()"""),
    md(r"""Everything below is one registered experiment, `ablations`
(`angpt.experiments`): thirteen variants, each trained with its own paper's recipe
(`TrainConfig.for_arch`: AdamW, weight decay and warm-up for the GPT family, Adam without
either for nGPT and anGPT), on the same batches, seed by seed. The chapter runs its quick
version live, on one CPU core in a few seconds: a tiny model (width 32, two blocks) and 40
steps, **one seed**. The full-size version is run on a GPU with

    python -m angpt run ablations --budget full --seeds 3 --out book/results/ablations.json

and shown, with where it came from, whenever that file exists."""),
    code(r"""import math

import numpy as np
import plotly.graph_objects as go
import torch

from angpt import concentration as cm
from angpt import data, experiments as E
from angpt import tracking as tr

if angpt.budget() == "quick":
    torch.set_num_threads(1)   # quick mode runs on one core; tiny matrices gain nothing from more
quick = E.run("ablations", budget="quick", seeds=1, progress=False)     # the quick run, live
full = E.load("results/ablations.json")                                  # the GPU run, if it was made
dev = quick["provenance"]["device"]
QUICK = "Quick CPU run" if dev.startswith("CPU") else f"Quick run ({dev})"
sources = [(QUICK, quick)] + ([] if full is None else [(f"Full size ({full['provenance']['device']})", full)])
print("quick:", quick["config"]["sizes"]["model"], quick["config"]["sizes"]["train"]["steps"], "steps, seeds",
      quick["seeds"], "on", quick["provenance"]["device"])
if full is None:
    print("no results/ablations.json yet: only the quick CPU run below (see 'Reproducing the full-size results')")
else:
    p = full["provenance"]
    print(f"full size: results/ablations.json, commit {p['git_commit'][:10]}, {p['device']}, {p['date']}, "
          f"seeds {full['seeds']}, model {full['config']['sizes']['model']}, {full['config']['sizes']['train']['steps']} steps")"""),
    code(r"""s = quick["summary"]   # every rung of the live run trained: finite losses below the untrained ln(256) = 5.55
for label in E.ABLATION_LADDER:
    assert s[label]["diverged"] == 0 and s[label]["final_val_loss"]["max"] < math.log(256), label"""),
    md(r"""## 1. The ladder

For each rung, the improvement is $100\,(L_\text{GPT} - L)/L_\text{GPT}$, where $L$ is the
final validation loss and $L_\text{GPT}$ that of GPT without QK-norm *with the same seed*
(same initialization seed, same batches). The dropdown picks a rung and shows its
validation loss next to the baseline's; the band is the range over seeds."""),
    code(r"""BASE = "gpt"
STYLE = {"gpt": ("gpt", "solid"), "gpt+": ("gpt+", "solid"), "ngpt": ("ngpt", "solid"),
         "ngpt:bound": ("ngpt", "dash"), "angpt": ("angpt", "solid")}
NAMES = {"gpt": "GPT (no QK-norm)", "gpt+": "GPT+", "ngpt": "nGPT", "ngpt:bound": "nGPT, ‖w‖ ≤ 1", "angpt": "anGPT",
         "angpt:no-nu-alpha": "anGPT without ν(α)", "angpt:no-qk-norm": "anGPT without QK-norm"}

def name(label):
    if label.startswith("angpt:factors"):
        return f"anGPT, factors × {label.split('x')[-1]}"
    return NAMES.get(label, label)

def fmt(v, spec="+.1f"):
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)

def curve_traces(res, label, colour, dash="solid"):
    try:
        tokens, losses = E.curves(res, label)   # (evals,), (seeds, evals) of the runs that finished
    except ValueError:                          # every seed diverged: nothing to draw
        return [go.Scatter(x=[], y=[], showlegend=False),
                go.Scatter(x=[], y=[], mode="lines", name=f"{name(label)}: diverged", line=dict(color=colour, dash=dash))]
    x = tokens / 1e6
    return [viz.band(x, losses.min(0), losses.max(0), label, colour),
            go.Scatter(x=x, y=losses.mean(0), mode="lines+markers", name=name(label), line=dict(color=colour, dash=dash))]

def rung_title(res, label):
    imp = res["summary"][label]["improvement_pct"]
    paper = E.PAPER_LADDER.get(label)
    return (f"{name(label)}: {fmt(imp['mean'])} % vs GPT (seeds {fmt(imp['min'])} … {fmt(imp['max'])})"
            + (f"; paper {paper:+.1f} %" if paper is not None else ""))

def ladder_figure(res, source):
    rungs = list(E.ABLATION_LADDER[1:])
    def traces(label):
        key, dash = STYLE[label]
        mine = curve_traces(res, label, viz.color(key), dash)
        mine[-1].name = rung_title(res, label)   # the legend carries the rung's number
        return curve_traces(res, BASE, viz.color("gpt")) + mine
    return viz.dropdown_figure(
        rungs, traces, label="rung", fmt=name, active=len(rungs) - 1,
        layout=dict(title=f"{source}: validation loss, each rung against GPT without QK-norm",
                    xaxis_title="training tokens (millions)", yaxis_title="validation loss (nats/byte)", height=450))

ladder_figure(quick, QUICK).show()"""),
    code(r"""def ladder_bars():
    rungs = list(E.ABLATION_LADDER[1:])
    fig = go.Figure()
    fig.add_bar(x=[name(r) for r in rungs], y=[E.PAPER_LADDER[r] for r in rungs], name="paper (0.5B, 10B tokens)",
                marker_color="#bbbbbb")
    for (source, res), colour in zip(sources, ("#D55E00", "#7B3294")):
        s = res["summary"]
        stat = lambda k: np.array([s[r]["improvement_pct"][k] for r in rungs], dtype=float)   # None -> nan
        mean, lo, hi = stat("mean"), stat("min"), stat("max")
        fig.add_bar(x=[name(r) for r in rungs], y=mean, name=f"{source}, seeds {res['seeds']}", marker_color=colour,
                    error_y=dict(type="data", symmetric=False, array=hi - mean, arrayminus=mean - lo))
    fig.update_layout(barmode="group", height=420, yaxis_title="improvement vs GPT without QK-norm (%)",
                      title="The ladder: final validation loss relative to GPT without QK-norm")
    return fig

ladder_bars().show()
for source, res in sources:
    print(source + ":  " + ",  ".join(f"{name(r)} {fmt(res['summary'][r]['improvement_pct']['mean'])} %"
                                      f" (paper {E.PAPER_LADDER[r]:+.1f} %)" for r in E.ABLATION_LADDER[1:]))"""),
    md(r"""**What you should see.** The printed line and the bars are the result; read them
rather than the paper. Two cautions before comparing with the paper's +2.1 / +3.0 / +3.4 /
+3.8 %. First, the quick run is 40 steps of a width-32 model on Shakespeare: it measures how
fast each recipe *starts*, where nGPT and anGPT, trained without warm-up at a larger learning
rate, have a head start that can dwarf the paper's few percent. Second, one seed gives no
error bar: the full-size run has several, and a rung whose bar overlaps its neighbour's has
not been separated from it. The paper's percentages are small *differences of final
losses* after 10B tokens; ours are after a few million."""),
    md(r"""## 2. Without $\nu(\alpha)$: the stream drifts

anGPT's residual update is a LERP towards the sublayer's output $h_X$, rescaled:

$$h \leftarrow \nu(\alpha)\,\big((1-\alpha)\,h + \alpha\,h_X\big), \qquad
\nu(\alpha) = \frac{1}{\sqrt{\alpha^2 + (1-\alpha)^2}}.$$

If $h$ and $h_X$ are roughly orthogonal and of similar size, the LERP alone returns a vector
of norm $\sqrt{(1-\alpha)^2 + \alpha^2}\,\lVert h\rVert = \lVert h\rVert/\nu(\alpha)$: *shorter*, by
5 % at the initial $\alpha = 0.05$. nGPT undoes this with an exact normalization, anGPT with
the constant $\nu(\alpha)$. Without either, and because each sublayer's output is roughly
proportional to its input (the values $v = W_v h$ are linear in $h$), the stream shrinks
geometrically: after $k$ sublayers, $\lVert h_k\rVert \approx \nu(\alpha)^{-k}$. Every other
factor was derived for unit-norm inputs, so every block deeper in the stack works further
from its design point. Below, anGPT at initialization, with and without $\nu(\alpha)$, on
real text; the slider sets the depth."""),
    code(r"""probe, _ = data.eval_windows(data.load_corpus("shakespeare").val, 64, 4 * 64)   # 4 windows of text
DEPTHS, WIDTH = [2, 4, 8, 16, 32], 64

def stream_at_init(depth, lerp_factor):
    torch.manual_seed(0)
    model = angpt.build_model(angpt.preset("angpt", d_model=WIDTH, n_layers=depth, n_heads=2, seq_len=64,
                                           lerp_factor=lerp_factor))
    return tr.residual_profile(tr.norm_profile(model, probe, sites=("embed", "resid_post")))

drift = {(L, lf): stream_at_init(L, lf) for L in DEPTHS for lf in (True, False)}
nu0 = float(cm.nu_lerp(0.05))        # nu at the initial alpha
reference = lambda L: nu0 ** (-2.0 * np.arange(L + 1))   # two LERPs per block

def drift_traces(L):
    with_nu, without = drift[(L, True)], drift[(L, False)]
    return [go.Scatter(x=with_nu["depth"], y=with_nu["mean"], mode="lines+markers", name="anGPT (with ν(α))",
                       line=dict(color=viz.color("angpt"))),
            go.Scatter(x=without["depth"], y=without["mean"], mode="lines+markers", name="without ν(α)",
                       line=dict(color="#000000")),
            go.Scatter(x=without["depth"], y=reference(L), mode="lines", name="ν(α)^(-2l), α = 0.05",
                       line=dict(color="#000000", dash="dot"))]

viz.slider_figure(
    DEPTHS, drift_traces, label="depth L", active=3,
    titles=lambda L: f"At init, d = {WIDTH}: mean token norm of the stream after l of L = {L} blocks",
    layout=dict(xaxis_title="blocks applied l", yaxis_title="‖h_l‖", yaxis_type="log", height=450)).show()"""),
    code(r"""for L in DEPTHS:
    with_nu, without = drift[(L, True)]["mean"], drift[(L, False)]["mean"]
    assert np.all(np.abs(with_nu - 1) < 0.1), (L, with_nu)                       # with nu: near 1 at every depth
    assert np.allclose(without, reference(L), rtol=0.15), (L, without, reference(L))   # without: nu^-k"""),
    code(r"""# NBVAL_CHECK_OUTPUT
for L in (8, 32):
    print(f"L = {L:2d} blocks at init: stream norm after the last block {drift[(L, True)]['mean'][-1]:.2f} with nu(alpha), "
          f"{drift[(L, False)]['mean'][-1]:.3f} without (nu^-2L = {reference(L)[-1]:.3f})")"""),
    md(r"""**What you should see.** With $\nu(\alpha)$ the stream stays within a few percent of
norm 1 at any depth. Without it, the measured norm follows the dotted $\nu(\alpha)^{-2l}$
almost exactly: 0.44 after 8 blocks, 0.04 after 32. During training $\alpha$ grows (nGPT's
learned values reach 0.2–0.4), and $\nu(0.3) = 1.31$: the loss per sublayer is then 24 %,
not 5 %.

A network can fight back, of course: the norm bound $\lVert w\rVert \le 1$ caps how much a
weight can amplify, but $\alpha$, $s_{qk}$ and $s_z$ are free. What does training make of
it? The two runs below (same seed, same batches) record the stream's norm every few
steps (`TrainConfig.track_every`)."""),
    code(r"""PAIR = ("angpt", "angpt:no-nu-alpha")

def drift_run_figure(res, source):
    fig = go.Figure()
    for label, colour in zip(PAIR, (viz.color("angpt"), "#000000")):
        run = next(r for r in res["runs"] if r["label"] == label and r["seed"] == 0)
        sn = run["stream_norms"]
        last = [m[-1] for m in sn["mean"]]
        fig.add_scatter(x=sn["step"], y=last, mode="lines+markers", name=f"{name(label)}: after the last block",
                        line=dict(color=colour))
        mid = [m[len(m) // 2] for m in sn["mean"]]
        fig.add_scatter(x=sn["step"], y=mid, mode="lines", name=f"{name(label)}: after block {len(sn['mean'][0]) // 2}",
                        line=dict(color=colour, dash="dot"))
    fig.update_layout(title=f"{source}: mean token norm of the stream while training (seed 0)", height=420,
                      xaxis_title="step", yaxis_title="‖h‖ (mean over probe tokens)", yaxis_rangemode="tozero")
    return fig

def pair_losses(res):
    s = res["summary"]
    return {label: (s[label]["final_val_loss"]["mean"], s[label]["diverged"]) for label in PAIR}

drift_run_figure(quick, QUICK).show()
for source, res in sources:
    (l1, d1), (l0, d0) = pair_losses(res).values()
    div = [r["diverged_at"] for r in res["runs"] if r["label"] == PAIR[1] and r["diverged_at"] is not None]
    print(f"{source}: final validation loss anGPT {fmt(l1, '.3f')}, without nu(alpha) {fmt(l0, '.3f')}"
          + (f" ({100 * (l0 - l1) / l1:+.1f} %)" if None not in (l0, l1) else "")
          + (f"; without nu(alpha) {len(div)} of {len(res['seeds'])} runs diverged, at steps {div}" if div
             else "; no run diverged"))"""),
    md(r"""**What you should see.** Compare the black curves with the orange ones, and the two
printed losses. In the quick run the model has two blocks, so the geometric drift has only
four sublayers to compound over, and 40 steps are too few to push $\alpha$ far: whatever
difference you see there is small, and it is honest to say that this tiny run does *not*
reproduce "most critical". The full-size model has eight blocks (sixteen LERPs); its result,
when present, is drawn below in the same way. The mechanism you can always check is the one
at initialization above: without $\nu(\alpha)$ the stream leaves the unit sphere
geometrically with depth, and every constant downstream is then wrong by the same factor."""),
    md(r"""## 3. Perturbing the other factors

`factor_scale` multiplies every constant factor of anGPT except $\nu(\alpha)$: $\nu_{qkv}$,
$\nu_p$, $\nu_{uz}$, $\nu_\text{acf}$, $\nu_d$ (the gate's $\sqrt{d_m}$ is nGPT's trick, not
a normalization factor, and stays). A scale $s$ makes the attention output about $s^2$ times
too large ($\nu_{qkv}$ on $v$, then $\nu_p$) and the MLP output about $s^4$ times (through
$\nu_{uz}$ twice, $\nu_\text{acf}$ and $\nu_d$ in its linear regime), so ±2 % in every factor is
about ±4–8 % in each sublayer's output. The slider sets $s$; the reference is $s = 1$."""),
    code(r"""SCALES = [s for s in E.FACTOR_SCALES if s < 1] + [1.0] + [s for s in E.FACTOR_SCALES if s > 1]
label_of = lambda s: "angpt" if s == 1.0 else E.factor_label(s)

def factor_delta(res, s):   # % change of the final loss against s = 1, paired by seed (finished runs)
    ref = {r["seed"]: r["final_val_loss"] for r in res["runs"] if r["label"] == "angpt"}
    out = [100 * (r["final_val_loss"] - ref[r["seed"]]) / ref[r["seed"]] for r in res["runs"]
           if r["label"] == label_of(s) and r["final_val_loss"] is not None and ref.get(r["seed"]) is not None]
    return np.array(out) if out else np.array([np.nan])

def factor_figure(res, source):
    def traces(s):
        return curve_traces(res, "angpt", viz.color("angpt")) + curve_traces(res, label_of(s), "#7B3294", "dash")
    def title(s):
        d = factor_delta(res, s)
        return (f"{source}: every factor × {s:g}: final loss {fmt(d.mean(), '+.2f')} % vs × 1 "
                f"(seeds {fmt(d.min(), '+.2f')} … {fmt(d.max(), '+.2f')})")
    return viz.slider_figure(SCALES, traces, label="factor scale s", active=SCALES.index(1.1), titles=title,
                             fmt=lambda s: f"{s:g}",
                             layout=dict(xaxis_title="training tokens (millions)", yaxis_title="validation loss",
                                         height=450))

factor_figure(quick, QUICK).show()"""),
    code(r"""def factor_summary_figure():
    fig = go.Figure()
    for (source, res), colour in zip(sources, ("#D55E00", "#7B3294")):
        d = [factor_delta(res, s) for s in SCALES]
        fig.add_scatter(x=SCALES, y=[x.mean() for x in d], mode="lines+markers", name=f"{source}, seeds {res['seeds']}",
                        line=dict(color=colour),
                        error_y=dict(type="data", symmetric=False, array=[x.max() - x.mean() for x in d],
                                     arrayminus=[x.mean() - x.min() for x in d]))
        base = np.array([r["final_val_loss"] for r in res["runs"] if r["label"] == "angpt"], dtype=float)
        if np.isfinite(base).sum() > 1:   # seed-to-seed spread of anGPT itself: the noise floor
            base = base[np.isfinite(base)]
            spread = 100 * (base.max() - base.min()) / base.mean()
            fig.add_hrect(y0=-spread / 2, y1=spread / 2, fillcolor=colour, opacity=0.1, line_width=0)
    fig.update_layout(title="Final loss change when every constant factor is scaled by s (shaded: seed spread)",
                      xaxis_type="log", xaxis_title="factor scale s", yaxis_title="change of final loss vs s = 1 (%)",
                      height=420)
    return fig

factor_summary_figure().show()
for source, res in sources:
    print(source + ":  " + ",  ".join(f"×{s:g} {fmt(factor_delta(res, s).mean(), '+.2f')} %" for s in SCALES if s != 1))"""),
    md(r"""**What you should see.** Read the printed changes against the spread of anGPT over
seeds (the shaded strip; the full run has one, the one-seed quick run cannot). The paper's
claim is that ±2 % is harmless; "harmless" here means *inside that strip*. Scales far from 1
move the stream off norm 1 in the direction of $s$, and the learned scales ($\alpha$, $s_z$)
have to make up for it, which costs steps. Where the curve leaves the strip is where the
factors start to matter at this size and budget."""),
    md(r"""## 4. Without QK-norm: the paper's 2.0×

The paper's largest gain: with QK-norm removed everywhere, anGPT reaches the final loss
of GPT (no QK-norm) with half the tokens (2.0×; nGPT 1.8×), against 1.40× (nGPT 1.29×)
over GPT+ when everybody has QK-norm. Speedup here is the same measure as in chapter 7: the
tokens the baseline used to reach its final loss, divided by the tokens the model needed to
reach that loss (below 1 if it never gets there). One difference to keep in mind: nGPT
*always* normalizes $q$ and $k$ (it is part of its block, not an add-on), so there is no
"nGPT without QK-norm" to train here; its row is the same nGPT as in the ladder."""),
    code(r"""ROWS = [("angpt:no-qk-norm", "speedup", "no-qk-norm", "angpt"), ("ngpt", "speedup", "no-qk-norm", "ngpt"),
        ("angpt", "speedup_vs_gpt+", "qk-norm", "angpt"), ("ngpt", "speedup_vs_gpt+", "qk-norm", "ngpt")]
for source, res in sources:
    print(source)
    print(f"  {'model':<26} {'baseline':<20} {'speedup':>8} {'seeds':>16} {'paper':>6}")
    for label, key, setting, paper_key in ROWS:
        sp = res["summary"][label][key]
        base = "GPT (no QK-norm)" if key == "speedup" else "GPT+"
        f2 = lambda v: fmt(v, ".2f")
        print(f"  {name(label):<26} {base:<20} {f2(sp['mean']):>8} {f2(sp['min']) + ' … ' + f2(sp['max']):>16} "
              f"{E.ABLATION_PAPER_SPEEDUP[setting][paper_key]:>6.2f}")"""),
    md(r"""**What you should see.** Each row is a measured speedup next to the paper's. The
paper's story is that anGPT's constants do for the stream what QK-norm does for the
attention logits, so the gain is largest when nothing else normalizes. Whether this small
budget agrees is in the table; where it does not, the honest reading is that 40 steps (or a
few hundred at full size) measure the start of training, where the learning rate and the
warm-up matter as much as the architecture."""),
    md(r"""### Full size

The same figures from `results/ablations.json` (the model of the race in chapter 7, trained
for a quarter of its steps, several seeds), when that file exists."""),
    code(r"""if full is not None:
    source = f"Full size ({full['provenance']['device']})"
    ladder_figure(full, source).show()
    drift_run_figure(full, source).show()
    factor_figure(full, source).show()
else:
    print("not run yet: the figures above are the quick CPU run")"""),
    md(r"""## Summary

- The ladder GPT → GPT+ → nGPT → nGPT with $\lVert w\rVert\le 1$ → anGPT runs here on one data
  set, one budget and paired seeds; the bars put each rung's improvement next to the
  paper's +2.1 / +3.0 / +3.4 / +3.8 %.
- Without $\nu(\alpha)$ the LERP shortens the stream by $1/\nu(\alpha)$ per sublayer, so at
  initialization its norm decays like $\nu(\alpha)^{-k}$ with depth, exactly as measured; every
  other factor assumes unit norm, so this one error compounds into all of them.
- Scaling every other factor by $s$ changes sublayer outputs by about $s^2$ to $s^4$; whether
  a given $s$ matters is a comparison with the seed spread, not with zero.
- Without QK-norm the paper's gains are largest; the table gives this budget's answer.

## Exercises

1. Derive the fixed point of $r_{k}^2 = (1-\alpha)^2 r_{k-1}^2 + \alpha^2$ (a LERP towards
   unit vectors that do *not* scale with $h$) and compare it with the $\nu^{-k}$ decay above.
   Which of the two describes the attention sublayer, and why?
2. Re-run section 2 at `alpha_init=0.3` (a `ModelConfig` field). How deep can the model be
   before the stream has lost 99 % of its norm?
3. `angpt.experiments.ablation_configs("quick", "angpt:no-nu-alpha")` gives the quick run's
   configs. Train it with `angpt.train` at four times the learning rate, with and without
   $\nu(\alpha)$. Which of the two diverges first?
4. The factor perturbation scales all factors together. Write a variant that scales only
   $\nu_\text{acf}$ (hint: `angpt.blocks.ANGPTBlock` reads its factors from `angpt_factors`).
   Is the MLP or the attention more sensitive?"""),
]

write(cells, "08_ablations.ipynb")
