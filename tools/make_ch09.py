"""Write book/09_inference.ipynb (outputs stripped). Run: python tools/make_ch09.py"""

from nbbuild import write
from nbformat.v4 import new_code_cell as code, new_markdown_cell as md

cells = [
    md(r"""# Zero-overhead inference: folding anGPT's constants into its weights

anGPT replaced every normalization of the residual stream by a constant factor $\nu$. During
training a few of those still move: the LERP factor $\nu(\alpha)$ depends on the learned
$\alpha$, and the logits are scaled by a learned $s_z$. Once training stops, *everything* is
a constant, and a constant next to a linear map can be multiplied into it. The paper's claim
is "0 % inference overhead" for anGPT, against about 3 % for nGPT, whose exact per-token
normalizations cannot be folded away (methods.md §4.9–4.10).

What `angpt.fold` does (derived in methods.md §4.10, checked here):

* **projections:** $W_{qkv}' = \nu_{qkv}W_{qkv}$, $W_o' = \nu_p W_o$,
  $W_u' = \nu_{uz}\nu_\text{acf}W_u$, $W_z' = \sqrt{d_m}\,\nu_{uz}W_z$, $W_d' = \nu_d W_d$,
  $W_\text{head}' = \operatorname{diag}(s_z)W_\text{head}$;
* **LERP:** $h \leftarrow \nu(\alpha)\big(h + \alpha(x - h)\big) = D_a h + D_b x$ with diagonal
  $D_a = \operatorname{diag}(\nu(\alpha)(1-\alpha))$ and $D_b = \operatorname{diag}(\nu(\alpha)\alpha)$;
  $D_b$ goes into the rows of the sublayer's output matrix;
* **and $D_a$ disappears** by carrying $g = P^{-1}h$ instead of $h$, where $P$ is the running
  product of the $D_a$'s: $P$ folds into the *columns* of every matrix that reads the stream,
  $P_\text{new}^{-1}$ into the *rows* of every matrix that writes it, and the update becomes
  $g \leftarrow g + P_\text{new}^{-1}D_b x$, a plain residual add.

**Predict first.** After folding, how many normalizations does anGPT still compute per
block? And is a folded anGPT faster at inference than GPT+ (which normalizes the stream
twice per block), as fast, or slower?"""),
    code(r"""import sys
if "google.colab" in sys.modules:  # Colab: install the book's library first
    %pip install -q "angpt[book] @ git+https://github.com/angpt-book/angpt"
import angpt
from angpt import viz
viz.setup()"""),
    code(r"""from collections import Counter

import numpy as np
import plotly.graph_objects as go
import torch

from angpt import bench, data, experiments
from angpt.decode import generate
from angpt.fold import fold, fold_error

QUICK = angpt.budget() == "quick"        # quick: CI and CPU readers (seconds); full: GPU
if QUICK:
    torch.set_num_threads(1)             # quick mode runs on one core; tiny matrices gain nothing from more
SIZE = dict(d_model=64, n_layers=2, n_heads=2, seq_len=64) if QUICK else dict(d_model=512, n_layers=8, n_heads=8, seq_len=256)
STEPS, BATCH, LR = (40, 4, 3e-2) if QUICK else (300, 32, 2e-3)
cfg = angpt.preset("angpt", **SIZE)
run = angpt.train(cfg, angpt.TrainConfig.for_arch("angpt", steps=STEPS, batch_size=BATCH, lr=LR, eval_every=0,
                                                  eval_tokens=2048), progress=False)
model = run.model.eval()
print(f"anGPT {SIZE}, trained {STEPS} steps on {run.device}: validation loss {run.evals['val_loss'][0]:.2f} -> "
      f"{run.final_val_loss:.2f}")"""),
    md(r"""## 1. Same logits

Fold the trained model and compare the logits on windows of validation text the model never
saw. The fold is computed in float64 and cast back; what remains is float32 rounding."""),
    code(r"""torch.set_float32_matmul_precision("highest")   # compare in true float32 (training on a GPU enables TF32)
folded = fold(model)
device = next(model.parameters()).device
xv, _ = data.eval_windows(data.load_corpus("shakespeare").val, cfg.seq_len, 8 * cfg.seq_len)
xv = xv.to(device)                                  # (8, seq_len) token ids
with torch.no_grad():
    a, b = model(xv).double(), folded(xv).double()
max_abs = (b - a).abs().max().item()
rel = fold_error(model, folded, xv)                 # max over positions of ||Δ logits|| / ||logits||
print(f"logits: max |Δ| = {max_abs:.1e} (largest |logit| {a.abs().max().item():.1f}), "
      f"max relative error per position {rel:.1e}")
assert rel <= 1e-5"""),
    code(r"""# NBVAL_CHECK_OUTPUT
n_scales = 2 * cfg.n_layers * cfg.d_model + cfg.vocab_size     # the alphas and s_z, now inside the weights
print(f"relative logit error <= 1e-5: {rel <= 1e-5}")
print(f"parameters: anGPT {sum(p.numel() for p in model.parameters()):,}, folded "
      f"{sum(p.numel() for p in folded.parameters()):,} (= {n_scales:,} fewer: alpha_A, alpha_M per block, s_z)")"""),
    md(r"""## 2. What is left

First the modules. Then what a forward pass actually executes: `angpt.bench.forward_ops`
counts every ATen operation below autograd (a `TorchDispatchMode`) and sorts them into
matrix products, attention, normalizations (a reduction over a token's vector that the token
is then divided by), elementwise arithmetic, and pure layout (views, transposes, slices)."""),
    code(r"""def module_counts(m):
    return Counter(type(x).__name__ for x in m.modules())

mc = {"anGPT": module_counts(model), "anGPT folded": module_counts(folded)}
names = sorted(set(mc["anGPT"]) | set(mc["anGPT folded"]))
print(f"{'module':<22}{'anGPT':>8}{'folded':>8}")
for n in names:
    print(f"{n:<22}{mc['anGPT'][n]:>8}{mc['anGPT folded'][n]:>8}")
print("\nfolded block 0:\n", folded.blocks[0])"""),
    code(r"""ops_models = bench.inference_models(SIZE, device=device)     # GPT+, nGPT, anGPT, folded: same seed, same size
probe = xv[:1, :16]
ops = {m: bench.forward_ops(x, probe) for m, x in ops_models.items()}
groups = list(bench.OP_GROUPS) + ["other"]
print(f"ATen ops in one forward pass ({cfg.n_layers} blocks):")
print(f"{'':<14}" + "".join(f"{g:>14}" for g in groups) + f"{'total':>8}")
for m, o in ops.items():
    print(f"{m:<14}" + "".join(f"{o['groups'][g]:>14}" for g in groups) + f"{sum(o['groups'].values()):>8}")
L = cfg.n_layers
assert ops["angpt:folded"]["groups"]["normalization"] == 2 * L          # QK-norm on q and k: all that is left
assert ops["angpt:folded"]["groups"]["matmul"] == ops["gpt+"]["groups"]["matmul"]
assert ops["angpt:folded"]["groups"]["elementwise"] < ops["angpt"]["groups"]["elementwise"]
assert not any(n in mc["anGPT folded"] for n in ("RMSNorm", "LayerNorm", "DyT"))"""),
    code(r"""fig = go.Figure()
colours = {g: c for g, c in zip(groups, ("#0072B2", "#56B4E9", "#D55E00", "#E69F00", "#BBBBBB", "#666666"))}
labels = {"gpt+": "GPT+", "ngpt": "nGPT", "angpt": "anGPT", "angpt:folded": "anGPT folded"}
for g in groups:
    fig.add_bar(x=[labels[m] for m in ops], y=[ops[m]["groups"][g] for m in ops], name=g, marker_color=colours[g])
fig.update_layout(barmode="stack", height=420, yaxis_title="ATen ops per forward pass",
                  title=f"What one forward pass executes ({cfg.n_layers} blocks, d = {cfg.d_model})")
fig.show()"""),
    md(r"""**What you should see.** The folded model has the same matrix products as every other
model, and exactly $2L$ normalizations: QK-norm of the queries and the keys, the one
normalization anGPT kept on purpose (it sits between $W_q$ and the softmax, where no weight
can absorb it). nGPT computes $6L$: $q$, $k$, and four exact normalizations of the stream per
block. GPT+ normalizes the stream twice per block, once more before the head, and $q$, $k$.
Folding also removes about half of anGPT's elementwise work: the factors, the LERP
arithmetic, $\nu(\alpha)$ itself.

## 3. Time: folded anGPT vs anGPT vs GPT+ vs nGPT

`angpt.bench.inference` builds the four models at the same size, on the same device, and
times their forward passes **interleaved** (round-robin, order rotated every round, warm-up
rounds dropped), reporting medians and ratios to GPT+. Two kinds of work: *prefill*, one
pass over a whole prompt, and *decode*, one new token attending to a KV cache of the
previous tokens (`angpt.decode`), which is what each generated token costs. From a shell:
`python -m angpt bench --inference` (add `--size full --out book/results/bench_inference.json`
on a GPU)."""),
    code(r"""timing = bench.inference(size="quick" if QUICK else "full", steps=15 if QUICK else 30, warmup=3 if QUICK else 5)
print(bench.format_inference_table(timing))
gpu = experiments.load("results/bench_inference.json")
if gpu is None:
    print("\nno results/bench_inference.json yet: only the timings above")
else:
    p = gpu["provenance"]
    print(f"\nresults/bench_inference.json: {p['device']}, {gpu['dtype']}, commit {p['git_commit'][:10]}, {p['date'][:10]}")
    print(bench.format_inference_table(gpu))"""),
    code(r"""def shape_name(r):
    return f"prefill B={r['batch']} T={r['tokens']}" if r["kind"] == "prefill" else f"decode B={r['batch']}, cache {r['context']}"

def timing_figure(res, source):
    keys = list(dict.fromkeys((r["size"], shape_name(r)) for r in res["rows"]))
    models = res["models"]
    def traces(key):
        rows = {r["model"]: r for r in res["rows"] if (r["size"], shape_name(r)) == key}
        return [go.Bar(x=[labels.get(m, m) for m in models], y=[rows[m]["ratio"] for m in models], name="measured",
                       marker_color=[viz.color(m.split(":")[0]) for m in models],
                       error_y=dict(type="data", symmetric=False,
                                    array=[rows[m]["p75_ms"] / rows["gpt+"]["median_ms"] - rows[m]["ratio"] for m in models],
                                    arrayminus=[rows[m]["ratio"] - rows[m]["p25_ms"] / rows["gpt+"]["median_ms"] for m in models]),
                       text=[f"{rows[m]['ratio']:.2f}" for m in models], textposition="outside"),
                go.Scatter(x=[labels[m] for m in ("ngpt", "angpt")], y=[1.03, 1.0], mode="markers", name="paper (vs GPT+)",
                           marker=dict(symbol="line-ew-open", size=40, color="#000000", line=dict(width=3)))]
    return viz.dropdown_figure(
        keys, traces, label="size and shape", fmt=lambda k: f"{k[0]}: {k[1]}",
        layout=dict(title=f"{source}: forward time relative to GPT+ (median; bars: quartiles)", height=450,
                    yaxis_title="time / GPT+ time", yaxis_rangemode="tozero"))

dev_name = timing["device"]
timing_figure(timing, f"{'CPU' if dev_name.startswith('CPU') else dev_name}, {timing['dtype']}").show()
if gpu is not None:
    timing_figure(gpu, f"{gpu['device']}, {gpu['dtype']} (results/bench_inference.json)").show()"""),
    md(r"""**What you should see.** Read the ratios, not the milliseconds, and keep the device in
mind. At the quick sizes on a CPU a forward pass takes milliseconds and most of that is
per-operation overhead, so the count of operations in section 2 predicts much of the
ordering: nGPT and the unfolded anGPT pay for their extra elementwise work, the folded model
for the least of it. On a GPU in eager PyTorch each operation is a kernel launch, and at
small batch sizes launches, not arithmetic, set the pace. That is also where a detail of
implementation shows up: the folded model's QK-norm is an exact $x/\lVert x\rVert$ followed by a
separate gain (`F.normalize` plus a multiply, several kernels), while GPT+'s QK-norm is one
fused `rms_norm` kernel. If the folded model is not faster than GPT+ in the GPU table, count
kernels before blaming the architecture; with large batches, where matrix products
dominate, the ratios move towards 1. The paper's "0 %" is the claim that a folded anGPT costs
*nothing more* than GPT+: the number to check is whether its ratio stays at or below 1.

## 4. The same text

Same logits should mean the same samples. Both models generate 80 bytes from the same
prompt with the same random generator (temperature 1, top-40 sampling, with the KV cache)."""),
    code(r"""prompt = xv[:1, :24]                                          # a line of real text
def sample(m, **kw):
    g = torch.Generator(device=device).manual_seed(1234)
    return generate(m, prompt, 80, temperature=1.0, top_k=40, generator=g, **kw)

out_model, out_folded = sample(model), sample(folded)
print("prompt  :", repr(data.decode(prompt[0].tolist())))
print("anGPT   :", repr(data.decode(out_model[0, 24:].tolist())))
print("folded  :", repr(data.decode(out_folded[0, 24:].tolist())))
same = torch.equal(out_model, out_folded)
assert same and torch.equal(out_model, sample(model, use_cache=False))   # and the cache changes nothing"""),
    code(r"""# NBVAL_CHECK_OUTPUT
print(f"folded and unfolded anGPT generate identical text: {same}")"""),
    md(r"""**What you should see.** Two identical strings (gibberish after a few dozen steps of
training at the quick size, Shakespeare-flavoured gibberish at full size). Sampling draws
one uniform number per token and picks the token where the cumulative probability crosses
it; logits equal to $10^{-6}$ relative would have to put a cumulative probability within
$10^{-6}$ of that number to change a single token.

## Summary

- After training every factor of anGPT is a constant, and constants next to linear maps fold
  into them: the projection factors, the LERP diagonals $D_a$, $D_b$ and $s_z$. Carrying
  $g = P^{-1}h$ turns the LERP into a plain residual add.
- The folded model gives the same logits (relative error around $10^{-7}$ in float32) and the
  same generated text, with fewer parameters (the alphas and $s_z$ are inside the weights).
- What it computes is a GPT with no norm on the residual stream: matrix products, attention
  with QK-norm, SiLU and adds. Its speed against GPT+ then depends on how each framework
  implements the one norm left; the ratios above are measured, the paper's "0 %" is a claim
  about the architecture.

## Exercises

1. Fold an anGPT trained with `qk_norm=False` (a `ModelConfig` field). How many
   normalizations does `bench.forward_ops` count now? Is anything left that is not a matrix
   product, the attention, SiLU, or an add?
2. `folded.stream_scale[hook]` holds $P$ at each residual hook. Check with
   `run_with_cache` that `cache[hook] * P` equals the unfolded model's stream at every hook.
3. Why can $\nu_{qkv}$ on $q$ and $k$ simply be dropped once QK-norm is exact, while the same
   factor on $v$ cannot? What would change with `qk_norm=False`?
4. Write $x/\lVert x\rVert \cdot s$ as an RMSNorm with weight $s/\sqrt{d_h}$ and check numerically
   that they agree. Rebuild the folded model's QK-norm that way and time it again with
   `bench.inference`."""),
]

write(cells, "09_inference.ipynb")
