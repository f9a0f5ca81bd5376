"""Write book/01_concentration.ipynb (outputs stripped). The notebook is generated: edit this
script, run it, then `python tools/nbtool.py pin book/01_concentration.ipynb`."""

from __future__ import annotations

from nbbuild import code, md, write


CELLS = [
    md(r"""
    # Norms and angles of random vectors concentrate

    In a space of a few thousand dimensions, the length of a random vector is almost a
    constant, and two random directions are almost at right angles. These two facts, and the
    one general principle behind them (*concentration of measure*), are what the rest of this
    book builds on: a normalization layer divides by a number that barely varies, so one may
    hope to replace it by a constant. This chapter measures the facts by Monte Carlo, next to
    their closed forms and to the inequalities that bound them:

    1. the norm of a Gaussian vector, $\lVert g \rVert \approx \sqrt d$, with fluctuations that
       do not grow with $d$;
    2. random unit vectors are nearly orthogonal: cosines of size $1/\sqrt d$;
    3. every Lipschitz function of a random point concentrates: Gaussian concentration and
       Lévy's lemma on the sphere, with explicit constants, checked on a log scale.

    **Predict first.** Draw $g \sim \mathcal N(0, I_d)$ and look at $\lVert g\rVert/\sqrt d$.
    Going from $d = 16$ to $d = 4096$, does its histogram (a) keep its width, (b) get about
    4 times narrower, or (c) about 16 times narrower? And what is the typical angle between two
    random directions in $\mathbb R^{4096}$: 60°, 80° or 89°?
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

    from angpt import concentration as cm
    from angpt import figures

    QUICK = angpt.budget() == "quick"       # quick: CI and CPU readers; full: more samples
    DIMS = [16, 64, 256, 1024, 4096]
    N = 4_000 if QUICK else 40_000           # Gaussian vectors per dimension
    print(f"budget {angpt.budget()!r}: {N:,} samples per dimension, d in {DIMS}")
    """),
    md(r"""
    ## 1. The norm of a Gaussian vector

    Take $g \sim \mathcal N(0, I_d)$. Its squared norm is a sum of $d$ independent terms of mean
    1 and variance 2, so

    $$\mathbb E\lVert g\rVert^2 = d, \qquad \operatorname{sd}\lVert g\rVert^2 = \sqrt{2d}.$$

    The norm itself follows the chi distribution, with

    $$\mathbb E\lVert g\rVert = \sqrt 2\,\frac{\Gamma\big(\tfrac{d+1}{2}\big)}{\Gamma\big(\tfrac d2\big)}
    \in \Big[\tfrac{d}{\sqrt{d+1}},\ \sqrt d\,\Big], \qquad
    \operatorname{Var}\lVert g\rVert = d - (\mathbb E\lVert g\rVert)^2 \;\longrightarrow\; \tfrac12 .$$

    The last limit is the surprise: a first-order expansion
    $\lVert g\rVert = \sqrt{\lVert g\rVert^2} \approx \sqrt d + (\lVert g\rVert^2 - d)/(2\sqrt d)$
    turns the standard deviation $\sqrt{2d}$ of $\lVert g\rVert^2$ into $\sqrt{2d}/(2\sqrt d) = 1/\sqrt 2$
    for $\lVert g\rVert$, **whatever $d$ is**. The norm does not get more precise; $\sqrt d$ just
    gets larger. Relative to its size,

    $$\frac{\lVert g\rVert}{\sqrt d} = 1 \pm \frac{1}{\sqrt{2d}} .$$

    The slider below switches between the dimensions; the black curve is the exact (chi)
    density, not a fit.
    """),
    code("""
    stats = cm.norm_stats(DIMS, n=N, kind="gaussian", seed=0, keep_samples=True)
    by_d = {r["d"]: r for r in stats}

    bins = np.linspace(0.2, 1.8, 321)
    fig = figures.histogram_slider(
        DIMS, lambda d: by_d[d]["samples"] / math.sqrt(d), bins, label="d", active=2,
        density=lambda d, x: math.sqrt(d) * cm.chi_density(x * math.sqrt(d), d),
        density_name="exact density", x_title="‖g‖ / √d",
        titles=lambda d: f"‖g‖/√d of {N:,} Gaussian vectors in dimension d = {d}",
    )
    fig.show()
    """),
    md(r"""
    **What you should see.** A bump centred just below 1 that gets narrower as you move the
    slider right: from a spread of $1/\sqrt{32} \approx 0.18$ at $d = 16$ to
    $1/\sqrt{8192} \approx 0.011$ at $d = 4096$, 16 times narrower for 256 times more dimensions.
    The table puts the Monte Carlo numbers next to the closed forms.
    """),
    code("""
    rows = []
    for r in stats:
        d = r["d"]
        se_var = r["var"] * math.sqrt(2 / (r["n"] - 1))  # approx. standard error of a sample variance
        rows.append([
            d, f"{r['mean']:.3f} ± {r['se_mean']:.3f}", f"{r['mean_closed']:.3f}",
            f"{r['var']:.3f} ± {se_var:.3f}", f"{r['var_closed']:.4f}",
            f"{r['scaled_std']:.4f}", f"{1 / math.sqrt(2 * d):.4f}",
        ])
        # the closed forms must hold within the Monte Carlo error
        assert abs(r["mean"] - r["mean_closed"]) < 4 * r["se_mean"], r
        assert abs(r["var"] - r["var_closed"]) < 4 * se_var, r
    figures.table(["d", "E‖g‖ (Monte Carlo)", "E‖g‖ (closed form)", "Var‖g‖ (Monte Carlo)",
                   "Var‖g‖ (closed form)", "sd of ‖g‖/√d", "1/√(2d)"], rows)
    """),
    code("""
    d_line = np.unique(np.geomspace(1, 4096, 200).astype(int))
    fig = go.Figure([
        figures.curve(d_line, [cm.gaussian_norm_var(int(d)) for d in d_line], name="closed form d − (E‖g‖)²"),
        figures.curve([1, 4096], [0.5, 0.5], name="limit 1/2", dash="dot", colour="#999999"),
        go.Scatter(x=DIMS, y=[r["var"] for r in stats], mode="markers", name=f"Monte Carlo ({N:,} samples)",
                   marker=dict(color=figures.SAMPLE_COLOUR, size=9),
                   error_y=dict(array=[2 * r["var"] * math.sqrt(2 / (r["n"] - 1)) for r in stats])),
    ])
    fig.update_layout(title="Var‖g‖ does not grow with d: it tends to 1/2 (error bars: 2 standard errors)",
                      xaxis=dict(title="dimension d", type="log"), yaxis=dict(title="Var‖g‖", range=[0.25, 0.6]))
    fig.show()
    """),
    code("""
    # NBVAL_CHECK_OUTPUT
    print("Var||g||, closed form: ", {d: round(cm.gaussian_norm_var(d), 4) for d in DIMS})
    print("Var||g||, Monte Carlo: ", {d: round(by_d[d]["var"], 1) for d in DIMS})
    print("E||g||/sqrt(d), closed:", {d: round(cm.gaussian_norm_mean(d) / math.sqrt(d), 4) for d in DIMS})
    """),
    md(r"""
    ## 2. Random directions are nearly orthogonal

    Let $\theta, \theta'$ be independent and uniform on the unit sphere $\mathcal S^{d-1}$ (a
    Gaussian vector divided by its norm). By symmetry $\mathbb E\,\theta\theta^\top = I/d$, so the
    cosine between them has

    $$\mathbb E\langle\theta,\theta'\rangle = 0, \qquad
    \mathbb E\langle\theta,\theta'\rangle^2 = \operatorname{tr}\big(\mathbb E\,\theta\theta^\top\,
    \mathbb E\,\theta'\theta'^\top\big) = \frac1d .$$

    Its exact density is $c_d\,(1-t^2)^{(d-3)/2}$ on $(-1, 1)$, which squeezes towards 0 like a
    Gaussian of variance $1/d$. Among $n$ random directions the *largest* $|\cos|$ grows only
    like $\sqrt{\log n / d}$: a union bound over the $n(n-1)/2$ pairs with the cap bound
    below gives $\max|\cos| \le \sqrt{2\ln(n(n-1)/\delta)/d}$ with probability $1-\delta$.
    """),
    code("""
    N_POINTS = 100 if QUICK else 300  # random directions per dimension: n(n-1)/2 pairs
    cos_stats = cm.cosine_stats(DIMS, n_points=N_POINTS, seed=1, keep_samples=True)
    cos_by_d = {r["d"]: r for r in cos_stats}

    fig = figures.histogram_slider(
        DIMS, lambda d: cos_by_d[d]["samples"], np.linspace(-1, 1, 401), label="d", active=2,
        density=lambda d, t: cm.sphere_coordinate_density(t, d), density_name="exact density",
        x_title="cosine between two random unit vectors",
        titles=lambda d: f"cosines of {cos_by_d[d]['n_pairs']:,} pairs of random directions, d = {d}",
    )
    fig.show()
    """),
    code("""
    rows = []
    for r in cos_stats:
        d = r["d"]
        half_width = math.degrees(math.asin(min(1.0, 2 * r["std"])))  # 95 % of angles within 90° ± this
        rows.append([d, f"{r['std']:.4f}", f"{r['std_closed']:.4f}", f"90° ± {half_width:.1f}°",
                     f"{r['max_abs']:.3f}", f"{r['max_bound']:.3f}"])
        assert abs(r["std"] / r["std_closed"] - 1) < 0.1, r  # spread 1/sqrt(d)
        assert r["max_abs"] <= r["max_bound"], r
    figures.table(["d", "sd of cos", "1/√d", "95 % of angles", f"largest abs(cos) of {N_POINTS} points",
                   "bound (δ = 0.05)"], rows)
    """),
    md(r"""
    **What you should see.** At $d = 16$ the cosines spread over most of $(-1, 1)$; at
    $d = 4096$ 95 % of them sit within $\pm 0.03$ of zero: angles within 2° of 90°.
    The largest cosine among all pairs stays below its bound at every $d$.

    ## 3. Every Lipschitz function concentrates

    The norm and the cosine are two instances of one principle. A function $f$ is
    $L$-Lipschitz if $|f(x) - f(y)| \le L\lVert x - y\rVert$. Then:

    - **Gaussian concentration** (Tsirelson–Ibragimov–Sudakov): for $g \sim \mathcal N(0, I_d)$,
      $$P\big(|f(g) - \mathbb E f(g)| \ge t\big) \le 2\,e^{-t^2/(2L^2)} ,$$
      with **no $d$** in it: fluctuations are $O(L)$ at every dimension. The norm is
      1-Lipschitz (triangle inequality), which is why $\operatorname{Var}\lVert g\rVert$ stays below 1.
    - **Lévy's lemma** on the sphere: for $\theta$ uniform on $\mathcal S^{d-1}$, $d \ge 3$,
      $$P\big(|f(\theta) - \mathbb E f(\theta)| \ge t\big) \le 2\,e^{-(d-2)\,t^2/(2L^2)} .$$
      The constant comes from the curvature of the sphere ($d-2$) through the Bakry–Émery
      criterion and a log-Sobolev inequality (Ledoux 2001, ch. 5); here $d$ *is* in the
      exponent: on the unit sphere fluctuations are $O(L/\sqrt d)$. This is `cm.levy_bound`.
    - **Cap bound** (K. Ball 1997): the cap $\{\theta_1 \ge \varepsilon\}$ has normalized area at
      most $e^{-d\varepsilon^2/2}$, so $P(|\theta_1| \ge t) \le 2e^{-dt^2/2}$ (`cm.cap_bound`).

    We measure four 1-Lipschitz functions on the sphere: a coordinate $\theta_1$, the largest
    coordinate $\max_i\theta_i$, the distance to a fixed set (the negative orthant
    $\{y \le 0\}$; a distance to any set is 1-Lipschitz), and $\lVert P\theta\rVert$ for the
    projection $P$ onto half of the coordinates (a matrix with orthonormal rows; chapter 2 needs
    exactly such maps). On a log scale the measured tails must stay below the dashed bound.
    """),
    code("""
    N_TAIL = 8_000 if QUICK else 100_000
    FUNCS = ["coordinate", "max_coordinate", "dist_to_orthant", "half_norm"]
    LABELS = {"coordinate": "θ₁ (a coordinate)", "max_coordinate": "max coordinate",
              "dist_to_orthant": "distance to {y ≤ 0}", "half_norm": "‖Pθ‖ (half the coordinates)"}
    ts = np.linspace(0, 1, 201)
    tails = {d: cm.tail_probabilities(FUNCS, d, ts, n=N_TAIL, kind="sphere", seed=d) for d in DIMS}

    def tail_state(d):
        traces = []
        for fn, colour in zip(FUNCS, figures.SERIES_COLOURS):
            traces += figures.tail_traces(ts, tails[d][fn]["prob"], None, name=LABELS[fn], colour=colour)
        traces.append(figures.curve(ts, cm.levy_bound(ts, d), name="Lévy bound, L = 1", dash="dash"))
        traces.append(figures.curve(ts[ts < 1], 2 * cm.cap_bound(ts[ts < 1], d), name="2 × cap bound (coordinate)",
                                    dash="dot", colour="#999999"))
        return traces

    fig = viz.slider_figure(
        DIMS, tail_state, label="d", active=1,
        titles=lambda d: f"P(|f(θ) − E f| ≥ t) on the sphere, d = {d} ({N_TAIL:,} points)",
        layout=dict(xaxis=dict(title="deviation t", range=[0, 1]),
                    yaxis=dict(title="probability", type="log", range=[-4.5, 0.1])),
    )
    fig.show()
    """),
    md(r"""
    **What you should see.** Every measured curve lies under the Lévy bound, and the whole
    picture slides towards $t = 0$ as $d$ grows, like $1/\sqrt d$. The bound is not tight for
    every function: for a coordinate it has the right exponent (compare the cap bound), while
    the maximum coordinate and the distance to the orthant fluctuate much less than the bound
    allows. A bound guarantees; it does not predict.

    For Gaussian vectors the picture does not slide at all: the tail of $\lVert g\rVert$ around
    its mean is the same at every dimension, and Gaussian concentration bounds it with no $d$.
    """),
    code("""
    ts_g = np.linspace(0, 4.5, 91)
    traces = []
    for d, colour in zip([16, 256, 4096], figures.SERIES_COLOURS):
        r = cm.tail_probabilities("norm", d, ts_g, n=N_TAIL, kind="gaussian", seed=d + 1)
        traces += figures.tail_traces(ts_g, r["prob"], None, name=f"‖g‖, d = {d}", colour=colour)
    traces.append(figures.curve(ts_g, cm.gaussian_concentration_bound(ts_g), name="2 exp(−t²/2)", dash="dash"))
    fig = go.Figure(traces)
    fig.update_layout(title=f"P(|‖g‖ − E‖g‖| ≥ t) for Gaussian vectors ({N_TAIL:,} samples per d)",
                      xaxis=dict(title="deviation t"), yaxis=dict(title="probability", type="log", range=[-4.5, 0.1]))
    fig.show()
    """),
    code("""
    # every measured tail stays under its bound (with room for Monte Carlo error)
    for d in DIMS:
        for fn in FUNCS:
            r = tails[d][fn]
            slack = 4 * np.sqrt(r["prob"] * (1 - r["prob"]) / r["n"]) + 1 / r["n"]
            assert np.all(r["prob"] <= r["bound"] + slack), (d, fn)
    """),
    code("""
    # NBVAL_CHECK_OUTPUT
    print("Levy bound at t = 0.1:", {d: float(f"{cm.levy_bound(0.1, d):.2g}") for d in DIMS})
    print("all measured tails below it:",
          all(np.all(tails[d][fn]["prob"] <= tails[d][fn]["bound"] + 1e-3) for d in DIMS for fn in FUNCS))
    """),
    md(r"""
    ## Why this matters

    A number that barely varies can be replaced by a constant: if the inputs of a layer sit near
    the unit sphere, the norm of its output concentrates, and dividing by that norm does almost
    exactly what multiplying by one precomputed factor $\nu$ does. Chapter 2 derives that factor
    for every layer of anGPT and measures how far each norm strays from 1.

    ## Summary

    - $\lVert g\rVert/\sqrt d = 1 \pm 1/\sqrt{2d}$ for Gaussian vectors, with $\operatorname{Var}\lVert
      g\rVert \to 1/2$: the absolute fluctuation stays $O(1)$ while the norm grows like $\sqrt d$.
    - Random unit vectors have cosines of size $1/\sqrt d$; the largest among $n$ of them grows
      only like $\sqrt{\log n / d}$.
    - Any $L$-Lipschitz function of a uniform point on $\mathcal S^{d-1}$ deviates from its mean
      by more than $t$ with probability at most $2e^{-(d-2)t^2/(2L^2)}$ (Lévy), and the
      measurements obey it.

    ## Exercises

    1. Show from $\mathbb E\lVert g\rVert^2 = d$ and Jensen's inequality that $\mathbb E\lVert g\rVert
       \le \sqrt d$. Check how fast $\sqrt d - \mathbb E\lVert g\rVert$ goes to 0 with
       `cm.gaussian_norm_mean`.
    2. The coordinate $\theta_1$ has the exact density `cm.sphere_coordinate_density`. Integrate
       it to get $P(|\theta_1| \ge t)$ and compare with the Lévy and cap bounds at $d = 64$:
       which is tighter, and by what factor at $t = 0.3$?
    3. Let $W$ have unit rows. What is the Lipschitz constant of $x \mapsto \lVert Wx\rVert$? (Hint:
       the operator norm $\lVert W\rVert_2$.) Use `cm.levy_radius` to predict how much
       $\lVert Wx\rVert$ varies over the sphere for $W$ of shape $64 \times 1024$, then measure it.
    4. How many random unit vectors can you draw in $d = 1024$ so that, with probability 95 %,
       every pair has $|\cos| \le 0.2$? Use `cm.max_cosine_bound` and check by sampling.

    ## Try it live

    In a running kernel (Colab, Binder or your own Jupyter), drag the slider: it covers every
    power of two from 2 to 4096, with samples drawn once when the cell runs, so each change only
    re-bins them. On the static website the slider does not redraw (no Python runs there); use
    the figures above.
    """),
    code("""
    import ipywidgets as widgets

    LIVE_DIMS = [2**k for k in range(1, 13)]
    live = {d: cm.norm_samples(d, 2_000, "gaussian", seed=100 + d) / math.sqrt(d) for d in LIVE_DIMS}

    def show(d):
        fig = go.Figure([
            figures.histogram_trace(live[d], bins),
            figures.curve(bins, math.sqrt(d) * cm.chi_density(bins * math.sqrt(d), d), name="exact density"),
        ])
        fig.update_layout(title=f"d = {d}: sd of ‖g‖/√d = {live[d].std():.4f}, 1/√(2d) = {1 / math.sqrt(2 * d):.4f}",
                          xaxis=dict(title="‖g‖ / √d", range=[0.2, 1.8]), yaxis=dict(title="density"), bargap=0)
        fig.show()

    widgets.interact(show, d=widgets.SelectionSlider(options=LIVE_DIMS, value=256, description="d"));
    """),
]


if __name__ == "__main__":
    write(CELLS, "01_concentration.ipynb")
