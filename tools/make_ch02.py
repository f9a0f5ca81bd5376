"""Write book/02_factors.ipynb (outputs stripped). The notebook is generated: edit this
script, run it, then `python tools/nbtool.py pin book/02_factors.ipynb`."""

from __future__ import annotations

from nbbuild import code, md, write


CELLS = [
    md(r"""
    # Every normalization factor of anGPT, derived and checked

    anGPT (Franke et al., 2025) removes the normalization layers of a transformer and puts a
    **constant** in the place of each: where nGPT computes $\operatorname{Norm}(g(x)) =
    g(x)/\lVert g(x)\rVert$, anGPT multiplies by

    $$\nu = \frac{1}{\sqrt{\mathbb E\,\lVert g(x)\rVert^2}} ,$$

    computed once, assuming the input $x$ is uniform on the unit sphere and every weight row has
    norm 1. Chapter 1 showed why this can work: $\lVert g(x)\rVert$ barely varies when $g$ is
    Lipschitz and the dimension is large. This chapter derives every factor of an anGPT block,
    checks each by Monte Carlo, and compares it with the constant the book's model actually uses
    (read from the model, not retyped). Then it asks how good the approximation is, what the
    attention average does, and what happens when the assumptions fail.

    **Predict first.** A matrix $W$ of shape $64 \times 1024$ with unit rows maps a unit vector
    $x$ to a vector of norm about (a) 1, (b) 1/4, or (c) 8? And why would a SiLU need a factor
    as large as 3.7?
    """),
    code("""
    import sys
    if "google.colab" in sys.modules:  # Colab: install the book's library first
        %pip install -q "angpt[book] @ git+https://github.com/angpt-book/angpt"
    import angpt
    from angpt import viz
    viz.setup()
    """),
    code("""
    import math

    import numpy as np
    import plotly.graph_objects as go
    import torch

    from angpt import concentration as cm
    from angpt import figures

    QUICK = angpt.budget() == "quick"
    if QUICK:
        torch.set_num_threads(1)  # tiny matrices: a second thread costs more than it gives on a busy CPU
    D_MODEL, N_HEADS, RATIO = (256, 4, 4) if QUICK else (1024, 16, 4)  # d_h = 64 in both
    N_MC = 4_000 if QUICK else 40_000  # Monte Carlo samples per factor
    print(f"budget {angpt.budget()!r}: d_m = {D_MODEL}, n_h = {N_HEADS}, d_h = {D_MODEL // N_HEADS}, "
          f"MLP width {RATIO} d_m, {N_MC:,} samples per factor")
    """),
    md(r"""
    ## 1. The key lemma

    Let $x$ be uniform on $\mathcal S^{d-1}$. Flipping the sign of one coordinate, or swapping
    two, does not change its distribution, so $\mathbb E\,x_ix_j = 0$ for $i \ne j$ and all
    $\mathbb E\,x_i^2$ are equal; they sum to $\mathbb E\lVert x\rVert^2 = 1$. Hence
    $\mathbb E\,xx^\top = I/d$. For **any** $W \in \mathbb R^{r \times d}$ with unit rows $w_i$:

    $$\mathbb E\lVert Wx\rVert^2 = \mathbb E\,x^\top W^\top W x
    = \operatorname{tr}\big(W^\top W\,\mathbb E\,xx^\top\big) = \frac{\operatorname{tr}(W^\top W)}{d}
    = \frac1d\sum_{i=1}^r \lVert w_i\rVert^2 = \frac rd,
    \qquad\text{so}\qquad \nu = \sqrt{d/r} .$$

    That fixes the **mean**. Concentration needs one more thing: $x \mapsto \lVert \nu Wx\rVert$ is
    $\nu\lVert W\rVert_2$-Lipschitz ($\lVert W\rVert_2$ the largest singular value), so by Lévy's
    lemma (chapter 1) it stays within $\nu\lVert W\rVert_2\sqrt{2\ln(2/\delta)/(d-2)}$ of its mean
    with probability $1-\delta$. A random $W$ with unit rows has $\lVert W\rVert_2 \approx 1 +
    \sqrt{r/d}$, and the norm concentrates. A $W$ whose rows are all the same unit vector also
    satisfies the lemma, but $\lVert W\rVert_2 = \sqrt r$: its output norm does not concentrate at all.
    """),
    code("""
    rows = []
    for d_in, d_out in [(64, 64), (1024, 64), (256, 1024), (1024, 256)]:
        r = cm.mc_linear(d_in, d_out, n_samples=N_MC // 2, seed=d_in + d_out)
        m, se_m = r["estimate"] ** -2, 2 * r["stderr"] * r["estimate"] ** -3  # E||Wx||^2 and its error
        rows.append([f"{d_out} × {d_in}", f"{d_out / d_in:.4f}", f"{m:.4f} ± {se_m:.4f}",
                     f"{r['closed']:.4f}", f"{r['estimate']:.4f} ± {r['stderr']:.4f}"])
        assert abs(r["estimate"] / r["closed"] - 1) < 0.01, r
    figures.table(["W (unit rows)", "r/d", "E‖Wx‖² (Monte Carlo)", "ν = √(d/r)", "ν (Monte Carlo)"], rows)
    """),
    code("""
    d, r = 256, 64
    nu = cm.nu_linear(d, r)
    x = cm.sphere_points(N_MC, d, seed=5)
    matrices = {
        "random unit rows": cm.unit_rows(r, d, seed=6),
        "all rows identical": np.repeat(cm.unit_rows(1, d, seed=7), r, axis=0),
    }
    traces, rows = [], []
    for (name, W), colour in zip(matrices.items(), figures.SERIES_COLOURS):
        out = nu * np.linalg.norm(x @ W.T, axis=1)  # ||nu W x||, (N_MC,)
        lip = nu * cm.operator_norm(W)
        traces.append(figures.histogram_trace(out, np.linspace(0, 4, 201), name=name, colour=colour))
        rows.append([name, f"{np.mean(out**2):.3f}", f"{out.std():.3f}", f"{lip:.2f}",
                     f"{cm.levy_radius(d, lip):.2f}"])
    fig = go.Figure(traces)
    fig.update_layout(barmode="overlay", title=f"‖ν W x‖ for two W of shape {r} × {d} with unit rows (ν = {nu:g})",
                      xaxis=dict(title="‖ν W x‖"), yaxis=dict(title="density"), bargap=0)
    fig.show()
    figures.table(["W", "E‖νWx‖²", "sd", "Lipschitz constant ν‖W‖₂", "Lévy radius (95 %)"], rows)
    """),
    md(r"""
    **What you should see.** Both matrices give $\mathbb E\lVert\nu Wx\rVert^2 = 1$, as the lemma
    promises, but only the random one concentrates: identical rows make the output
    $\sqrt r\,|\langle w, x\rangle|\,\nu$, a single random cosine blown up. The mean comes from the
    lemma; the concentration comes from a small Lipschitz constant.

    ## 2. Every factor of an anGPT block

    An anGPT block (methods.md §4.2 of this project's notes; the paper gives the factors, the
    details where it is silent are the book's choices, see `angpt.blocks.ANGPTBlock`):

    $$\begin{aligned}
    q, k, v &= \nu_{qkv}\,W_{q,k,v}\,h, \qquad q, k \leftarrow \operatorname{Norm}(q), \operatorname{Norm}(k)\\
    h_A &= \nu_p\,W_p \operatorname{concat}_i\big(\textstyle\sum_j a_{ij} v_j\big)\\
    h &\leftarrow \nu(\alpha_A)\big(h + \alpha_A (h_A - h)\big)\\
    u &= \nu_{uz} W_u h, \quad \tilde z = \sqrt{d_m}\,\nu_{uz} W_z h, \quad
    h_M = \nu_d\,W_d\big(u \odot \nu_{acf}\operatorname{SiLU}(\tilde z)\big)\\
    h &\leftarrow \nu(\alpha_M)\big(h + \alpha_M (h_M - h)\big)
    \end{aligned}$$

    Each factor is the lemma, or a short variation of it, under "$h$ uniform on the sphere, unit rows":

    - $\nu_{qkv} = \sqrt{d_m/d_h}$: one head's $W_q$ is $d_h \times d_m$; the lemma with $r = d_h$.
      (QK-norm then removes the factor from $q, k$; it matters for $v$.)
    - $\nu_p = \sqrt{d_h/d_m}$: each head output is a unit vector in $\mathbb R^{d_h}$ (if attention is
      sparse, §3), so their concatenation $c$ has $\lVert c\rVert^2 = n_h$ and $\mathbb E\,cc^\top =
      I/d_h$; then $\mathbb E\lVert W_pc\rVert^2 = \operatorname{tr}(W_p^\top W_p)/d_h = d_m/d_h$.
    - $\nu_{uz} = \sqrt{1/r}$: $W_u, W_z$ are $r d_m \times d_m$.
    - $\nu_{acf}$: each entry of $\tilde z$ is $\sqrt{d_m}\cdot\tfrac1{\sqrt r}\langle w_i, h\rangle$, and
      $\langle w_i, h\rangle$ is a sphere coordinate of variance $1/d_m$, nearly Gaussian: $\tilde z_i
      \approx \mathcal N(0, 1/r) = \mathcal N(0, 1/4)$. The $\sqrt{d_m}$ is nGPT's trick that puts the
      gate where SiLU is nonlinear. With $u$ and $\tilde z$ from independent rows,
      $\mathbb E\lVert u \odot \operatorname{SiLU}(\tilde z)\rVert^2 \approx \mathbb E\lVert u\rVert^2\,
      \mathbb E\operatorname{SiLU}(\tilde z_i)^2$, so $\nu_{acf} = 1/\sqrt{\mathbb E\operatorname{SiLU}(x)^2}$ with
      $x \sim \mathcal N(0, 1/4)$: about 3.72 by quadrature. That is the paper's "3.74 (Monte
      Carlo)" within half a percent; the paper does not state the input distribution, and
      $\mathcal N(0, 1/4)$ is the one that reproduces it.
    - $\nu_d = \sqrt r$: $W_d$ is $d_m \times r d_m$ and its input has norm about 1.
    - $\nu(\alpha) = 1/\sqrt{\alpha^2 + (1-\alpha)^2}$: for independent unit $h, h_A$ the cross term
      vanishes, $\mathbb E\lVert(1-\alpha)h + \alpha h_A\rVert^2 = (1-\alpha)^2 + \alpha^2$. The model
      applies it per dimension to its learned $|\alpha|$, every forward pass.

    Why 3.7 for the SiLU: near 0, $\operatorname{SiLU}(x) \approx x/2$, so for small inputs the factor
    would be $2/\sigma$; at $\sigma = 1/2$ the curve below gives 3.72, and at $\sigma = 1$ only 1.68.
    """),
    code("""
    sigmas = np.geomspace(0.05, 3, 200)
    mc_sig = [0.1, 0.25, 0.5, 1.0, 2.0]
    mc_act = [cm.mc_activation_factor("silu", s, n_samples=200_000, seed=i) for i, s in enumerate(mc_sig)]
    fig = go.Figure([
        figures.curve(sigmas, [cm.nu_activation("silu", s) for s in sigmas], name="1/√E SiLU(x)² (quadrature)"),
        figures.curve(sigmas, 2 / sigmas, name="2/σ (SiLU(x) ≈ x/2)", dash="dot", colour="#999999"),
        go.Scatter(x=mc_sig, y=[e for e, _ in mc_act], mode="markers", name="Monte Carlo (200k samples)",
                   marker=dict(color=figures.SAMPLE_COLOUR, size=9),
                   error_y=dict(array=[2 * s for _, s in mc_act])),
        go.Scatter(x=[cm.mlp_gate_std(RATIO)], y=[3.74], mode="markers", name="paper: 3.74",
                   marker=dict(symbol="x", size=12, color=viz.color("angpt"))),
    ])
    fig.update_layout(title="The SiLU factor depends on the spread σ of its input; anGPT's gate has σ = 1/2",
                      xaxis=dict(title="σ, input x ~ N(0, σ²)", type="log"),
                      yaxis=dict(title="ν_acf", type="log"))
    fig.show()
    """),
    md(r"""
    Now the table: the closed form (from `angpt.concentration`), a Monte Carlo estimate with
    its standard error (random unit-row weights, inputs uniform on the sphere; for
    $\nu_{acf}$ the gate input is pushed through $\sqrt{d_m}\,\nu_{uz}W_z h$, so the Gaussian
    assumption is tested too), and the constant inside a freshly built anGPT model,
    `model.factors`.
    """),
    code("""
    torch.manual_seed(0)
    cfg = angpt.preset("angpt", d_model=D_MODEL, n_heads=N_HEADS, mlp_ratio=RATIO, n_layers=2, seq_len=64)
    model = angpt.build_model(cfg)
    alpha0 = model.scales()["blocks.0.alpha_attn"].detach()  # |alpha| in use at init (a vector)

    FORMULAS = {"nu_qkv": "√(d_m/d_h)", "nu_p": "√(d_h/d_m)", "nu_uz": "√(1/r)",
                "nu_acf": "1/√E SiLU(x)², x ~ N(0, 1/r)", "nu_d": "√r", "nu_lerp": "1/√(α² + (1−α)²)"}
    closed, mc, in_model = {}, {}, {}
    for i, name in enumerate(cm.FACTORS):
        closed[name] = cm.closed_form_factor(name, D_MODEL, N_HEADS, RATIO, alpha=cfg.alpha_init)
        mc[name] = cm.mc_factor(name, D_MODEL, N_HEADS, RATIO, alpha=cfg.alpha_init, n_samples=N_MC, seed=10 + i)
        # what the model multiplies by: its constants, and nu(|alpha|) from its own alpha
        in_model[name] = float(cm.nu_lerp(alpha0).mean()) if name == "nu_lerp" else model.factors[name]

    figures.table(
        ["factor", "formula", "closed form", "Monte Carlo ± s.e.", "MC / closed", "in the model"],
        [[f"ν_{name[3:]}" if name != "nu_lerp" else "ν(α), α = 0.05", FORMULAS[name], f"{closed[name]:.4f}",
          f"{mc[name][0]:.4f} ± {mc[name][1]:.4f}", f"{mc[name][0] / closed[name]:.4f}", f"{in_model[name]:.4f}"]
         for name in cm.FACTORS])
    """),
    code("""
    # Monte Carlo agrees with every closed form within 1 %, and the model uses exactly the closed forms
    for name in cm.FACTORS:
        est, se = mc[name]
        assert abs(est / closed[name] - 1) < 0.01, (name, est, closed[name])
    reference = cm.angpt_factors(D_MODEL, N_HEADS, RATIO)
    assert all(model.factors[k] == reference[k] for k in reference), (model.factors, reference)
    assert np.allclose(alpha0.numpy(), cfg.alpha_init) and abs(in_model["nu_lerp"] - closed["nu_lerp"]) < 1e-6  # float32
    """),
    code("""
    # NBVAL_CHECK_OUTPUT
    print("closed forms:   ", {k: round(v, 4) for k, v in closed.items()})
    print("Monte Carlo:    ", {k: round(v[0], 2) for k, v in mc.items()})
    print("all within 1 %: ", all(abs(mc[k][0] / closed[k] - 1) < 0.01 for k in closed))
    print("model == closed:", all(model.factors[k] == closed[k] for k in closed if k != "nu_lerp"))
    """),
    md(r"""
    Do the factors keep a real model's vectors near norm 1? The model at initialization, on
    text, layer by layer (mean token norm at each hook):
    """),
    code("""
    from angpt import data as D

    corpus = D.load_corpus("shakespeare")
    probe, _ = D.eval_windows(corpus.val, cfg.seq_len, 8 * cfg.seq_len)  # (8, T) token ids
    with torch.no_grad():
        _, cache = model.run_with_cache(probe)
    hooks = [n for n in model.hook_names if n.startswith("blocks.0.") or n in ("hook_embed",)]
    figures.table(["hook", "mean ‖·‖ over tokens", "sd"],
                  [[n, f"{cache[n].norm(dim=-1).mean():.3f}", f"{cache[n].norm(dim=-1).std():.3f}"] for n in hooks])
    """),
    md(r"""
    Everything sits near 1 except the attention output `hook_attn_out`, which is smaller: the
    attention *average* has no factor. That is the next section.

    ## 3. The attention average

    A head outputs $o_t = \sum_{j \le t} a_{tj} v_j$ with attention weights $a_{tj} \ge 0$ summing to 1.
    For independent, zero-mean unit $v_j$ the cross terms vanish and

    $$\mathbb E\lVert o_t\rVert^2 = \sum_j a_{tj}^2 \in \Big[\frac1t,\ 1\Big].$$

    If attention is **dense** (uniform over the $t$ visible tokens) the norm is $1/\sqrt t$ and
    the right factor would be $\sqrt t$, different at every position; if it is **sparse** (one
    token), the norm is 1 and no factor is needed. The exact factor $1/\sqrt{\sum_j a_{tj}^2}$ needs
    the attention probabilities, which fused attention kernels (FlashAttention,
    `scaled_dot_product_attention`) never materialize. The paper lists no attention factor and
    names the dense-vs-sparse question as a limitation; its $\nu_p$ presumes unit head outputs,
    i.e. sparse attention. This book's model follows that: `attn_factor="none"` by default,
    with `"sqrt_t"` (dense assumption) and `"exact"` as ablation switches.

    How sparse is attention in practice? Below: $\sum_j a_{tj}^2$ from `model.attention_patterns`,
    averaged over heads and a batch of text, at initialization and after a short training run
    (**quick CPU run**: a tiny model and a few dozen steps; full size on a GPU).
    """),
    code("""
    T_ATT = 64 if QUICK else 256
    att_cfg = (angpt.preset("angpt", d_model=64, n_layers=2, n_heads=2, seq_len=T_ATT) if QUICK else
               angpt.preset("angpt", d_model=256, n_layers=4, n_heads=4, seq_len=T_ATT))
    att_steps = 50 if QUICK else 2000
    run = angpt.train(att_cfg, angpt.TrainConfig.for_arch("angpt", steps=att_steps, batch_size=8 if QUICK else 32,
                                                          eval_every=0, eval_tokens=4 * T_ATT, seed=0,
                                                          device="cpu" if QUICK else "auto"),
                      progress=False)
    print(f"trained {att_steps} steps: validation loss {run.evals['val_loss'][0]:.2f} -> {run.evals['val_loss'][-1]:.2f}")
    trained = run.model.cpu().eval()
    torch.manual_seed(0)
    at_init = angpt.build_model(att_cfg).eval()

    att_probe, _ = D.eval_windows(corpus.val, T_ATT, 8 * T_ATT)
    with torch.no_grad():
        sq = {label: [cm.attention_sq_sum(p).mean(dim=(0, 1)).numpy() for p in m.attention_patterns(att_probe)]
              for label, m in [("init", at_init), ("trained", trained)]}  # per layer: (T,)
    pos = np.arange(1, T_ATT + 1)
    traces = [figures.curve(pos, cm.dense_sq_sum(T_ATT), name="dense: 1/t", dash="dot", colour="#999999"),
              figures.curve(pos, np.ones(T_ATT), name="sparse: 1", dash="dash", colour="#999999")]
    for label, dash in [("init", "dot"), ("trained", None)]:
        for layer, (s, colour) in enumerate(zip(sq[label], figures.SERIES_COLOURS)):
            traces.append(figures.curve(pos, s, name=f"layer {layer}, {label}", colour=colour, dash=dash))
    fig = go.Figure(traces)
    fig.update_layout(title="Σ_j a_tj² per query position (mean over heads and 8 windows of text)",
                      xaxis=dict(title="position t", type="log"), yaxis=dict(title="Σ_j a_tj²", type="log"))
    fig.show()
    """),
    md(r"""
    **What you should see.** At initialization attention is nearly uniform and hugs the dense
    line; after even a little training it becomes several times sparser, but at the end of a
    window it is still far from one-hot. So each head's output norm shrinks with position
    unless something compensates. What each switch does to the attention sublayer's output
    norm on the trained weights:
    """),
    code("""
    gen = torch.Generator().manual_seed(0)
    distinct = torch.stack([torch.randperm(256, generator=gen)[:T_ATT] for _ in range(8)])  # no byte twice in a window
    CASES_ATT = {"at initialization, text": (at_init, att_probe),
                 "at initialization, no byte repeated": (at_init, distinct),
                 "after training, text": (trained, att_probe)}
    norms = {}  # (case, attn_factor) -> mean ||h_A|| per position of layer 0, (T,)
    for label, (source, tokens) in CASES_ATT.items():
        for mode in ("none", "sqrt_t", "exact"):
            m = angpt.build_model(att_cfg.replace(attn_factor=mode)).eval()
            m.load_state_dict(source.state_dict())  # same weights; attn_factor has no parameters
            with torch.no_grad():
                _, c = m.run_with_cache(tokens, names_filter="blocks.0.hook_attn_out")
            norms[label, mode] = c["blocks.0.hook_attn_out"].norm(dim=-1).mean(dim=0).numpy()
        # 1 <= 1/sqrt(sum a^2) <= sqrt(t): the three switches are ordered
        assert norms[label, "none"].mean() < norms[label, "exact"].mean() < norms[label, "sqrt_t"].mean(), label

    def attn_state(label):
        return [figures.curve(pos, norms[label, mode], name=f'attn_factor="{mode}"', colour=colour)
                for mode, colour in zip(("none", "sqrt_t", "exact"), figures.SERIES_COLOURS)]

    fig = viz.dropdown_figure(list(CASES_ATT), attn_state, label="model",
                              layout=dict(title="‖h_A‖ per position, layer 0 (mean over 8 windows)", margin=dict(t=130),
                                          xaxis=dict(title="position t", type="log"),
                                          yaxis=dict(title="mean ‖h_A‖", type="log")))
    fig.show()
    assert norms["at initialization, text", "none"][-1] < 0.8  # the average shrinks the head outputs
    exact_distinct = norms["at initialization, no byte repeated", "exact"]
    assert np.all(np.abs(exact_distinct - 1) < 0.15), exact_distinct  # the derivation, when its assumption holds
    assert norms["after training, text", "none"].mean() > norms["at initialization, text", "none"].mean()
    """),
    md(r"""
    At initialization, `"none"` falls well below 1 along the window, as the derivation predicts;
    `"sqrt_t"` overshoots, because attention is sparser than uniform; `"exact"` starts near 1 but
    drifts upwards on text. The derivation assumed independent values $v_j$, and text breaks
    that: the same byte recurs within a window, its values add up coherently, and
    $\lVert o_t\rVert^2 > \sum_j a_{tj}^2$. Pick "no byte repeated" in the dropdown (windows of distinct
    random bytes): there `"exact"` stays at 1 all along. After training all three are larger,
    since trained weights no longer look random (§5), and the order none < exact < sqrt_t
    remains, as it must ($1 \le 1/\sqrt{\sum_j a_{tj}^2} \le \sqrt t$).

    Why can anGPT leave the factor out? $h_A$ enters the stream only through the LERP with a small
    $\alpha$ (0.05 at init), which the model learns per dimension: a too-small or too-large $h_A$
    is a too-small or too-large step, not a drift of the stream's norm (§4), and the learned
    $\alpha_A$ can absorb it. Whether it costs anything in training is measured in the ablations
    chapter.

    ## 4. How good is the approximation?

    Two questions: how far does $\lVert\nu\,g(x)\rVert$ stray from 1 for a single input, and how much
    does a *systematic* error in a factor matter?

    **Spread.** The figure shows, for each component, the distribution of its output norm over
    random unit inputs (box: quartiles; whiskers: 2.5 % and 97.5 %). Move the slider: every box
    shrinks like $1/\sqrt d$.
    """),
    code("""
    SPREAD_DIMS = [16, 32, 64, 128, 256] if QUICK else [16, 32, 64, 128, 256, 512, 1024]
    N_SPREAD = 400 if QUICK else 4_000
    LABELS = {"nu_qkv": "ν_qkv W h", "nu_p": "ν_p W_p concat(o)", "nu_uz": "ν_uz W_u h",
              "nu_acf": "u ⊙ ν_acf SiLU(z̃)", "nu_d": "ν_d W_d m", "nu_lerp": "ν(α) LERP", "mlp": "whole MLP"}
    spread = {name: {r["d"]: r for r in cm.norm_spread(name, SPREAD_DIMS, alpha=cfg.alpha_init, n_samples=N_SPREAD,
                                                       seed=20 + i, keep_samples=True)}
              for i, name in enumerate(cm.COMPONENTS)}

    def boxes(d):
        stats = {n: np.quantile(spread[n][d]["samples"], [0.025, 0.25, 0.5, 0.75, 0.975]) for n in cm.COMPONENTS}
        names = [LABELS[n] for n in cm.COMPONENTS]
        return [go.Box(x=names, lowerfence=[stats[n][0] for n in cm.COMPONENTS], q1=[stats[n][1] for n in cm.COMPONENTS],
                       median=[stats[n][2] for n in cm.COMPONENTS], q3=[stats[n][3] for n in cm.COMPONENTS],
                       upperfence=[stats[n][4] for n in cm.COMPONENTS], name="‖ν g(x)‖",
                       marker_color=viz.color("angpt"), showlegend=False),
                go.Scatter(x=names, y=[1] * len(names), mode="lines", line=dict(color="#999999", dash="dot"),
                           name="1", showlegend=False)]

    fig = viz.slider_figure(SPREAD_DIMS, boxes, label="d_m", active=SPREAD_DIMS.index(256),
                            titles=lambda d: f"output norms of each anGPT component, d_m = {d}, d_h = d_m/4, {N_SPREAD} inputs",
                            layout=dict(yaxis=dict(title="‖ν g(x)‖", range=[0, 2.2])))
    fig.show()
    """),
    md(r"""
    The same data as a function of $d$: the half-width of the central 95 % interval of each
    output norm, and, for the linear maps whose input is one point on a sphere, Lévy's radius
    $\nu\lVert W\rVert_2\sqrt{2\ln 40/(d-2)}$ for the drawn $W$. Both fall like $1/\sqrt d$; the bound
    is a few times loose but never wrong.
    """),
    code("""
    traces = []
    for name, colour in zip(cm.COMPONENTS, figures.SERIES_COLOURS + ("#444444",)):
        recs = [spread[name][d] for d in SPREAD_DIMS]
        traces.append(go.Scatter(x=SPREAD_DIMS, y=[(r["hi"] - r["lo"]) / 2 for r in recs], mode="lines+markers",
                                 name=LABELS[name], line=dict(color=colour)))
        if recs[0]["levy"] is not None:
            traces.append(go.Scatter(x=SPREAD_DIMS, y=[r["levy"] for r in recs], mode="lines",
                                     name=f"Lévy radius, {LABELS[name]}", line=dict(color=colour, dash="dash")))
            for r in recs:  # the measured 95 % interval lies inside mean ± Lévy radius
                assert r["hi"] - r["mean"] <= r["levy"] and r["mean"] - r["lo"] <= r["levy"], (name, r["d"])
    d_ref = np.array(SPREAD_DIMS, dtype=float)
    traces.append(figures.curve(d_ref, 2 / np.sqrt(d_ref), name="2/√d (slope)", dash="dot", colour="#bbbbbb"))
    fig = go.Figure(traces)
    fig.update_layout(title="Half-width of the 95 % interval of ‖ν g(x)‖ (solid) and Lévy's radius (dashed)",
                      xaxis=dict(title="d_m", type="log"), yaxis=dict(title="deviation from the mean", type="log"))
    fig.show()
    """),
    md(r"""
    **Systematic errors.** The paper reports that errors of up to about 2 % in a factor are
    harmless, except in $\nu(\alpha)$, whose removal makes training unstable. The expected-norm
    recursion of the LERP shows why. With $x$ a sublayer output of norm $1+\varepsilon$ (its factor
    off by $\varepsilon$) and $\nu(\alpha)$ off by a factor $c$:

    $$\mathbb E\lVert h'\rVert^2 = c^2\,\nu(\alpha)^2\big((1-\alpha)^2\,\mathbb E\lVert h\rVert^2 + \alpha^2(1+\varepsilon)^2\big).$$

    With $c = 1$ the fixed point is $(1+\varepsilon)^2$: the stream ends up just $\varepsilon$ off, however
    deep the model. But $\nu(\alpha)^2(1-\alpha)^2$ is within a few thousandths of 1 for small $\alpha$, so
    any $c \ne 1$ compounds at every update: $\pm 2\,\%$ in $\nu(\alpha)$ moves the norm by tens of
    percent over 24 updates (a 12-layer model). Lines: the recursion (`cm.lerp_norms`); markers:
    a simulation with random unit vectors (`cm.simulate_lerp_norms`). The knob is $\alpha$.
    """),
    code("""
    ALPHAS = [0.01, 0.05, 0.1, 0.2, 0.5]
    N_LERPS = 24
    CASES = {"exact factors": {}, "sublayer factor +2 %": dict(sublayer_error=0.02),
             "sublayer factor −2 %": dict(sublayer_error=-0.02), "ν(α) +2 %": dict(lerp_error=0.02),
             "ν(α) −2 %": dict(lerp_error=-0.02), "no ν(α)": dict(lerp_factor=False)}
    steps = np.arange(N_LERPS + 1)

    def lerp_state(alpha):
        out = []
        for (case, kw), colour in zip(CASES.items(), figures.SERIES_COLOURS):
            out.append(figures.curve(steps, cm.lerp_norms(N_LERPS, alpha, **kw), name=case, colour=colour))
            sim = cm.simulate_lerp_norms(N_LERPS, alpha, d=128, n_samples=200, seed=1, **kw)
            out.append(go.Scatter(x=steps[::3], y=sim[::3], mode="markers", marker=dict(color=colour, size=6),
                                  name=f"{case} (simulated)", showlegend=False))
        return out

    fig = viz.slider_figure(ALPHAS, lerp_state, label="α", active=1,
                            titles=lambda a: f"RMS norm of the stream after k LERP updates, α = {a}",
                            layout=dict(xaxis=dict(title="LERP updates k (2 per layer)"),
                                        yaxis=dict(title="‖h‖ (RMS)", type="log", range=[-1.3, 0.7])))
    fig.show()
    """),
    code("""
    # NBVAL_CHECK_OUTPUT
    for case, kw in CASES.items():
        print(f"{case:>22}: norm after {N_LERPS} updates at alpha = 0.05: {cm.lerp_norms(N_LERPS, 0.05, **kw)[-1]:.3f}")
    """),
    md(r"""
    A 2 % error in $\nu_{qkv}, \nu_p, \nu_{uz}, \nu_{acf}, \nu_d$ leaves the stream 2 % off; the same
    error in $\nu(\alpha)$ makes it grow or shrink geometrically. This is a model of
    independent unit vectors, not a training run: the ablations chapter tests the claim on real
    training (`factor_scale` and `lerp_factor` in `ModelConfig`).

    ## 5. When the assumptions break

    The lemma assumed (i) inputs uniform on the sphere, (ii) unit rows, independent of the inputs.
    Trained networks break both, in ways we can measure.

    **Low-rank and correlated inputs.** If the inputs only use $k$ of the $d$ directions, a random
    $W$ does not notice: each row puts about $k/d$ of its mass there, and the factor is still right.
    It fails when the rows *align* with the directions the inputs use, as trained weights that read
    the data do. With a fraction $\mu$ of each row's squared norm inside the $k$-dimensional input
    subspace, $\mathbb E\lVert Wx\rVert^2 = r\mu/k$, so the right factor is $\nu\sqrt{k/(d\mu)}$: smaller
    than $\nu$ by up to $\sqrt{k/d}$.
    """),
    code("""
    d_in, d_out = 256, 64
    aligns = np.linspace(0, 1, 6)
    traces = []
    for k, colour in zip([4, 16, 64], figures.SERIES_COLOURS):
        res = [cm.mc_linear(d_in, d_out, input_rank=k, alignment=float(a), n_samples=1_000, seed=30 + k) for a in aligns]
        mass = k / d_in + aligns * (1 - k / d_in)
        traces.append(figures.curve(aligns, np.sqrt(k / (d_in * mass)), name=f"derived, k = {k}", colour=colour))
        traces.append(go.Scatter(x=aligns, y=[r["estimate"] / r["closed"] for r in res], mode="markers",
                                 marker=dict(color=colour, size=9), name=f"Monte Carlo, k = {k}",
                                 error_y=dict(array=[2 * r["stderr"] / r["closed"] for r in res])))
        assert all(abs(r["estimate"] / r["closed"] / math.sqrt(k / (d_in * m)) - 1) < 0.02 for r, m in zip(res, mass))
    fig = go.Figure(traces)
    fig.update_layout(title=f"right factor / ν for inputs of rank k in d = {d_in} ({d_out} unit rows)",
                      xaxis=dict(title="alignment of the rows with the input subspace (0: random, 1: inside)"),
                      yaxis=dict(title="right factor / ν", type="log"))
    fig.show()
    iso = cm.mc_linear(d_in, d_out, n_samples=2_000, seed=40)
    cor = cm.mc_linear(d_in, d_out, decay=1.0, n_samples=2_000, seed=40)
    print(f"correlated inputs (variance ∝ 1/i, effective dimension {cor['effective_dim']:.0f} of {d_in}), random W: "
          f"factor / ν = {cor['estimate'] / cor['closed']:.3f}, sd of ‖νWx‖ {cor['norms'].std():.3f} "
          f"(isotropic: {iso['norms'].std():.3f})")
    """),
    md(r"""
    Correlated inputs with a random $W$ change neither the mean nor (much) the spread: the spread
    of $\lVert\nu Wx\rVert$ is set mostly by the $r = 64$ output coordinates. What matters is the
    relation between the weights and the data.

    **Inputs that are not unit vectors.** Every linear factor is homogeneous: an input of norm
    $\rho$ gives an output of norm $\rho$, which the LERP and $\nu(\alpha)$ then pull back towards 1
    (§4). The SiLU is not: its input spread becomes $\sigma = \rho/2$ and, by the SiLU curve of §2,
    its right factor moves away from 3.72, so the MLP's output norm changes with $\rho$ in a way no
    constant can undo. That is one reason anGPT keeps the stream near 1 everywhere rather than
    only on average. The right $\nu_{acf}$ for a stream of norm $\rho$:
    """),
    code("""
    print({rho: round(cm.nu_activation("silu", rho * cm.mlp_gate_std(RATIO)), 2) for rho in (0.5, 0.75, 1.0, 1.5, 2.0)})
    """),
    md(r"""
    **Rows that are bounded, not unit.** anGPT constrains rows to $\lVert w_i\rVert \le 1$ (projection
    after each step) and starts them at 1. Rows that shrink during training scale their outputs
    down by their norm; the lemma gives $\mathbb E\lVert Wx\rVert^2 = \sum_i\lVert w_i\rVert^2/d$. The short
    run of §3 already shows it:
    """),
    code("""
    from angpt.constraints import constrained_weights

    rows = []
    for name, p, dim in constrained_weights(trained):
        rn = p.detach().norm(dim=dim)
        rows.append([name, tuple(p.shape), f"{rn.mean():.3f}", f"{rn.min():.3f}",
                     f"{math.sqrt(float((rn ** 2).mean())):.3f}"])
        assert float(rn.max()) <= 1 + 1e-5  # the bound holds after every step
    figures.table(["matrix", "shape", "mean row norm", "min", "output scale √(mean ‖w_i‖²)"], rows[:8])
    """),
    md(r"""
    ## Summary

    - For unit rows and inputs uniform on the sphere, $\mathbb E\lVert Wx\rVert^2 = r/d$ **exactly** (for
      any such $W$), hence $\nu = \sqrt{d/r}$; concentration around it needs a small Lipschitz constant
      $\nu\lVert W\rVert_2$, which random (or well-conditioned) weights have.
    - anGPT's factors: $\nu_{qkv} = \sqrt{d_m/d_h}$, $\nu_p = \sqrt{d_h/d_m}$, $\nu_{uz} = 1/2$,
      $\nu_d = 2$, $\nu_{acf} = 1/\sqrt{\mathbb E\operatorname{SiLU}(x)^2} \approx 3.72$ for $x \sim
      \mathcal N(0, 1/4)$ (the gate's spread after the $\sqrt{d_m}$ scaling), and $\nu(\alpha) =
      1/\sqrt{\alpha^2+(1-\alpha)^2}$. Monte Carlo agrees with each within 1 %, and the model uses these
      very numbers.
    - The attention average would need $1/\sqrt{\sum_j a_{tj}^2}$, between 1 (sparse) and $\sqrt t$
      (dense); anGPT, and this book's default, leave it out.
    - Output norms scatter around 1 by $O(1/\sqrt d)$, inside Lévy's bound. A systematic 2 % error
      in a sublayer factor is harmless; the same error in $\nu(\alpha)$ compounds over depth.
    - The factors can be wrong when weights align with low-rank inputs, when the SiLU's input is
      not at the assumed scale, and when rows shrink below 1.

    ## Exercises

    1. Derive $\nu_p$ when only one head is active (the others output 0). What would the
       factor be, and does the model's $\nu_p$ over- or under-estimate the output norm?
    2. With `cm.nu_activation("gelu", 0.5)` and `"relu"`, compute the factor anGPT would need
       with a GELU or ReLU gate. Check one by `cm.mc_activation_factor`.
    3. Use `cm.lerp_norms` to find, for $\alpha = 0.05$ and 48 updates, the largest error in
       $\nu(\alpha)$ that keeps the final norm within 10 % of 1.
    4. Train the small model of §3 longer (`att_steps`) and watch $\sum_j a_{tj}^2$: does
       attention keep getting sparser, and which `attn_factor` tracks 1 best?

    ## Try it live

    In a running kernel, pick a component and a width: the histogram of its output norm
    $\lVert\nu\,g(x)\rVert$ over random unit inputs (the samples of §4, re-binned on each change).
    On the static page use the slider figures above.
    """),
    code("""
    import ipywidgets as widgets

    norm_bins = np.linspace(0, 2.5, 251)

    def show(component, d):
        r = spread[component][d]
        fig = go.Figure([figures.histogram_trace(r["samples"], norm_bins, colour=viz.color("angpt"))])
        fig.add_vline(x=1, line=dict(color="#999999", dash="dot"))
        fig.update_layout(title=f"{LABELS[component]}, d_m = {d}: mean {r['mean']:.3f}, sd {r['std']:.3f}",
                          xaxis=dict(title="‖ν g(x)‖", range=[0, 2.5]), yaxis=dict(title="density"), bargap=0)
        fig.show()

    widgets.interact(show, component=widgets.Dropdown(options=[(LABELS[n], n) for n in cm.COMPONENTS], value="mlp"),
                     d=widgets.SelectionSlider(options=SPREAD_DIMS, value=256, description="d_m"));
    """),
]


if __name__ == "__main__":
    write(CELLS, "02_factors.ipynb")
