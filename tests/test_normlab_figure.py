"""The static norm lab (chapter 6): a dropdown over grid points and a slider over training
steps that compose (each changes a different trace property), showing the recorded norms."""

import numpy as np
import pytest

from angpt import normlab_figure as nf

ARCHS = ["gpt", "ngpt"]


def _run(arch, lr, depth, steps=(0, 5, 10)):
    """A synthetic run: after block l at step s, norm 1 for nGPT, (1 + l) * (1 + s * lr) for GPT."""
    def rec(hook, v):
        return {"hook": hook, "site": "embed" if hook == "hook_embed" else "resid_post",
                "mean": v, "std": 0.0, "min": v, "max": v}
    norms = []
    for s in steps:
        vals = [1.0 if arch == "ngpt" else (1 + l) * (1 + s * lr) for l in range(depth + 1)]
        entry = [rec("hook_embed", vals[0])] + [rec(f"blocks.{l}.hook_resid_post", vals[l + 1]) for l in range(depth)]
        norms.append({"step": s, "norms": entry})
    return {"arch": arch, "lr": lr, "depth": depth, "norms": norms}


def _grid():
    return [_run(a, lr, depth) for a in ARCHS for lr in (0.1, 1.0) for depth in (2, 4)]


def test_grid_points_need_every_arch():
    runs = _grid() + [_run("gpt", 5.0, 2)]  # no nGPT run at lr 5: not a grid point
    assert nf.grid_points(runs, ARCHS) == [(0.1, 2), (1.0, 2), (0.1, 4), (1.0, 4)]


def test_opens_at_the_deepest_highest_lr_after_the_last_step():
    fig = nf.drift_scrubber(_grid(), archs=ARCHS)
    shown = [t for t in fig.data if t.visible]
    assert [t.name for t in shown] == ["GPT", "nGPT"]
    assert list(shown[0].x) == [0, 1, 2, 3, 4]                                # 4 blocks
    assert list(shown[0].y) == pytest.approx([(1 + l) * 11 for l in range(5)])  # lr 1 at step 10
    assert fig.layout.sliders[0].active == 2 and fig.layout.updatemenus[0].active == 3


def test_slider_and_dropdown_compose():
    fig = nf.drift_scrubber(_grid(), archs=ARCHS)
    n = len(fig.data)
    assert n == 2 * 4
    # the slider restyles y of every trace (all grid points), nothing else
    for k, step in enumerate(fig.layout.sliders[0].steps):
        assert step.method == "restyle" and set(step.args[0]) == {"y"} and len(step.args[0]["y"]) == n
        s = int(step.label)
        for i, t in enumerate(fig.data):
            lr = (0.1, 1.0, 0.1, 1.0)[i // 2]
            want = [1.0] * len(t.x) if t.name == "nGPT" else [(1 + l) * (1 + s * lr) for l in range(len(t.x))]
            assert step.args[0]["y"][i] == pytest.approx(want)
    # the dropdown toggles visibility (and the x axis), not y: it keeps the step
    for b, (lr, depth) in zip(fig.layout.updatemenus[0].buttons, nf.grid_points(_grid(), ARCHS)):
        assert set(b.args[0]) == {"visible"} and sum(b.args[0]["visible"]) == len(ARCHS)
        assert b.args[1]["xaxis.tickvals"] == list(range(depth + 1))
        assert f"lr {lr:g}, {depth} blocks" == b.label


def test_a_diverged_run_stays_at_its_last_record():
    runs = [_run("gpt", 1.0, 2, steps=(0, 5)), _run("ngpt", 1.0, 2)]
    fig = nf.drift_scrubber(runs, archs=ARCHS)
    last = fig.layout.sliders[0].steps[-1].args[0]["y"][0]
    assert last == pytest.approx([(1 + l) * 6 for l in range(3)])


def test_bad_input():
    with pytest.raises(ValueError, match="no \\(lr, depth\\)"):
        nf.drift_scrubber([_run("gpt", 1.0, 2)], archs=ARCHS)
    with pytest.raises(ValueError, match="valid choices"):
        nf.drift_scrubber(_grid(), archs=ARCHS, active=(3.0, 2))
    with pytest.raises(ValueError, match="outside"):
        nf.drift_scrubber(_grid(), archs=ARCHS, step=7)
    fig = nf.drift_scrubber(_grid(), archs=ARCHS, active=(0.1, 2), step=0)
    assert [t.visible for t in fig.data][:2] == [True, True] and np.isclose(fig.data[0].y[1], 2.0)
