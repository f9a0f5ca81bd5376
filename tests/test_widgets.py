"""angpt.widgets, headless: the norm lab's knobs answer fast, a click trains and updates the
figure through angpt.train's callback, and the static grid figure's slider switches runs."""

import time

import numpy as np
import pytest
import torch

import angpt
from angpt import tracking as tr
from angpt import widgets as wd

TINY = dict(depth=2, width=32, steps=10, batch_size=4, seq_len=32, track_every=5)


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_panel_offers_every_preset_and_valid_configs():
    lab = wd.NormLab(**TINY)
    assert list(lab.arch.options) == list(angpt.PRESETS)
    for name in angpt.PRESETS:
        lab.arch.value = name
        cfg, tcfg = lab.configs()
        assert cfg == angpt.preset(name, d_model=32, n_layers=2, n_heads=1, seq_len=32, **(
            {} if cfg.arch == "gpt" else {"weight_constraint": None}))
        assert tcfg.track_every == 5 and not lab.button.disabled
    lab.arch.value = "angpt"
    lab.constraint.value = False
    assert lab.configs()[0].constraint == "none"
    lab.arch.value = "gpt+"
    assert lab.constraint.disabled  # the GPT family has no weight constraint to switch


def test_every_knob_change_answers_within_300_ms():
    lab = wd.NormLab(**TINY)
    new_values = [(lab.arch, "ngpt"), (lab.depth, 5), (lab.width, 128), (lab.lr, 1e-2),
                  (lab.constraint, False), (lab.steps, 200), (lab.arch, "dyt"), (lab.width, 1024), (lab.depth, 24)]
    for knob, value in new_values:
        t0 = time.perf_counter()
        knob.value = value
        dt = time.perf_counter() - t0
        assert dt < 0.3, f"{knob.description} -> {value!r} took {dt * 1000:.0f} ms"
    assert "d=1024" in lab.status.value and "24 blocks" in lab.status.value


def test_arch_change_sets_that_papers_learning_rate():
    lab = wd.NormLab(**TINY)
    for name in ("gpt+", "ngpt", "post-ln"):
        lab.arch.value = name
        assert lab.lr.value == pytest.approx(angpt.TrainConfig.for_preset(name).lr)
    # each preset trains with its own recipe: Post-LN gets its longer warm-up
    assert lab.configs()[1].warmup_steps == angpt.TrainConfig.for_preset("post-ln", steps=TINY["steps"]).warmup_steps


def test_button_click_trains_and_updates_the_figure_live(one_thread):
    lab = wd.NormLab(arch="angpt", **TINY)
    seen = []
    lab.plot.update = (lambda f: (lambda entry: (seen.append(entry["step"]), f(entry))))(lab.plot.update)
    lab.button.click()  # what the browser does
    assert lab.run is not None and lab.run.step == 10
    assert seen == [0, 5, 10]  # drawn as training went, one record at a time
    fig = lab.plot.figure
    assert list(fig.data[0].x) == [0, 5, 10]  # heatmap columns = recorded steps
    assert np.array(fig.data[0].z).shape == (3, 3)  # depth 0..2 x 3 steps
    assert [len(t.y) for t in fig.data[1:]] == [3, 3, 3]  # one curve per depth
    # the curves show the measured norms (anGPT starts on the sphere)
    assert fig.data[1].y[0] == pytest.approx(1.0, abs=0.05)
    assert lab.progress.value == 10 and lab.progress.max == 10
    assert lab.status.value.startswith("done") and not lab.button.disabled
    # a second run at another depth resets the figure
    lab.depth.value = 3
    lab.steps.value = 10
    lab.train()
    assert len(lab.plot.figure.data) == 1 + 4 and list(lab.plot.figure.data[0].y)[-1] == "block 3"


def test_plain_figure_fallback_updates_too():
    plot = wd.LiveNormPlot(2, widget=False)
    model = angpt.build_model(angpt.preset("ngpt", d_model=32, n_layers=2, n_heads=2, seq_len=16))
    rec = tr.NormRecorder(every=1, probe_len=16)
    for step in range(3):
        plot.update(rec.record(step, model))
    assert list(plot.figure.data[0].x) == [0, 1, 2]
    assert np.allclose(np.array(plot.figure.data[2].y), 1.0, atol=1e-5)  # nGPT: on the sphere
    with pytest.raises(ValueError, match="blocks"):
        wd.LiveNormPlot(3, widget=False).update(rec.history[0])


def test_bad_input():
    with pytest.raises(ValueError, match="valid choices"):
        wd.NormLab(arch="bert", **TINY)
    with pytest.raises(ValueError, match="unknown knob"):
        wd.NormLab(colour="red", **TINY)
    with pytest.raises(ValueError, match="n_layers"):
        wd.LiveNormPlot(0)
    with pytest.raises(ValueError, match="entry"):
        wd.LiveNormPlot(2, widget=False).update({})
    lab = wd.NormLab(n_heads=3, **TINY)  # d=32 is not divisible by 3 heads
    assert lab.button.disabled and "divisible" in lab.status.value
    assert lab.train() is None


def _fake_runs(archs, lrs):
    runs = []
    for a in archs:
        model = angpt.build_model(angpt.preset(a, d_model=32, n_layers=2, n_heads=2, seq_len=16))
        for lr in lrs:
            rec = tr.NormRecorder(every=1, probe_len=16, weights=False)
            for s in range(2):
                rec.record(s, model)
            runs.append({"arch": a, "lr": lr, "norms": rec.history})
    return runs


def test_lab_grid_figure_slider_switches_runs():
    archs, lrs = ["gpt+", "angpt"], [1e-3, 3e-3, 1e-2]
    fig = wd.lab_grid_figure(_fake_runs(archs, lrs), archs=archs, values=lrs, knob="lr")
    assert len(fig.data) == len(archs) * len(lrs)
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 3
    vis = [s.args[0]["visible"] for s in steps]
    assert vis[0] != vis[1] and sum(vis[2]) == len(archs)
    with pytest.raises(ValueError, match="no run"):
        wd.lab_grid_figure(_fake_runs(archs, lrs[:1]), archs=archs, values=lrs, knob="lr")


def test_live_plot_update_reads_only_the_new_record(monkeypatch):
    """A new record costs O(1): the plot reads the new entry only, never the history again
    (it used to rebuild the whole grid from every entry: 32 ms at 100 records, 54 ms at 200),
    and after the buffers grow (past 64 records) the figure still holds every record."""
    model = angpt.build_model(angpt.preset("gpt", d_model=32, n_layers=2, n_heads=2, seq_len=16))
    entry = tr.NormRecorder(every=1, probe_len=16, weights=False).record(0, model)
    plot = wd.LiveNormPlot(2, widget=False)
    calls = []
    real = wd.tr.residual_profile
    monkeypatch.setattr(wd.tr, "residual_profile", lambda recs: (calls.append(1), real(recs))[1])
    entries = [dict(entry, step=i) for i in range(150)]
    for i, e in enumerate(entries):
        before = len(calls)
        plot.update(e)
        assert len(calls) - before == 1, f"record {i} read {len(calls) - before} records"
    steps, z = wd.residual_grid(entries)
    fig = plot.figure
    assert list(fig.data[0].x) == steps
    assert np.allclose(np.array(fig.data[0].customdata), z)
    assert np.allclose(np.array(fig.data[0].z), np.log10(z))
    assert all(np.allclose(fig.data[1 + l].y, z[l]) for l in range(3))


def test_lab_grid_figure_opens_at_the_active_value():
    archs, lrs = ["gpt+", "angpt"], [1e-3, 1e-2]
    fig = wd.lab_grid_figure(_fake_runs(archs, lrs), archs=archs, values=lrs, knob="lr", active=-1)
    assert [t.visible for t in fig.data] == [False, False, True, True]
    assert fig.layout.sliders[0].active == 1
    with pytest.raises(ValueError, match="outside"):
        wd.lab_grid_figure(_fake_runs(archs, lrs), archs=archs, values=lrs, knob="lr", active=2)
