"""angpt.tracking: statistics on hand-made tensors, profiles of real models, the recorder."""

import math

import numpy as np
import pytest
import torch

from angpt import tracking as tr

# ------------------------------------------------------------------ pure statistics


def test_token_norms_and_stats_on_hand_made_tensor():
    # three tokens with norms 5, 1, 0 (3-4-5 triangle, a unit vector, zero)
    x = torch.tensor([[[3.0, 4.0], [0.0, 1.0], [0.0, 0.0]]])  # (B=1, T=3, d=2)
    assert tr.token_norms(x).tolist() == [5.0, 1.0, 0.0]
    s = tr.norm_stats(x)
    assert s["mean"] == pytest.approx(2.0)
    assert s["std"] == pytest.approx(math.sqrt(((5 - 2) ** 2 + (1 - 2) ** 2 + (0 - 2) ** 2) / 3))  # population
    assert (s["min"], s["max"]) == (0.0, 5.0)
    # the identity expected_growth_from_profile relies on: mean^2 + std^2 = E||x||^2
    assert s["mean"] ** 2 + s["std"] ** 2 == pytest.approx((25 + 1 + 0) / 3)


def test_stats_flatten_all_leading_dims_and_accept_half():
    x = torch.ones(2, 3, 4, dtype=torch.bfloat16)  # every token has norm 2
    s = tr.norm_stats(x)
    assert s == {"mean": 2.0, "std": 0.0, "min": 2.0, "max": 2.0}


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="shape"):
        tr.token_norms(torch.tensor(1.0))
    with pytest.raises(ValueError, match="shape"):
        tr.token_norms([1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        tr.summarize(torch.tensor([]))
    with pytest.raises(ValueError, match="unknown hook"):
        tr.parse_hook("blocks.x.hook_resid_pre")
    with pytest.raises(ValueError, match="n_layers"):
        tr.parse_hook("hook_final")
    with pytest.raises(ValueError, match="valid choices"):
        tr.heatmap([], site="resid")
    with pytest.raises(ValueError, match="valid choices"):
        tr.heatmap([], stat="median")
    with pytest.raises(ValueError, match="embed_sq"):
        tr.expected_preln_growth(-1.0, [1.0])
    with pytest.raises(ValueError, match="update_sq"):
        tr.expected_preln_growth(1.0, [])
    with pytest.raises(ValueError, match="every"):
        tr.NormRecorder(every=0)
    with pytest.raises(ValueError, match="probe"):
        tr.NormRecorder(probe=torch.zeros(3))
    with pytest.raises(ValueError, match="valid choices"):
        tr.NormRecorder(sites=["resid"])


def test_parse_hook():
    assert tr.parse_hook("hook_embed") == (-1, "embed")
    assert tr.parse_hook("blocks.12.hook_mlp_out") == (12, "mlp_out")
    assert tr.parse_hook("hook_final", n_layers=4) == (4, "final")


def _hand_cache(n_layers=3, d=8):
    """A cache of hand-made tensors whose norms are known: every token of hook k has norm k+1."""
    names = ["hook_embed"]
    for i in range(n_layers):
        names += [f"blocks.{i}.hook_{s}" for s in ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")]
    names += ["hook_final"]
    e = torch.zeros(2, 5, d)
    e[..., 0] = 1.0
    cache = {n: e * (k + 1) for k, n in enumerate(names)}
    cache["blocks.0.attn.hook_pattern"] = torch.rand(2, 2, 5, 5)  # not a token vector: skipped
    return names, cache


def test_profile_from_cache_orders_and_labels():
    names, cache = _hand_cache()
    recs = tr.profile_from_cache(cache, n_layers=3)
    assert [r["hook"] for r in recs] == names
    assert [r["mean"] for r in recs] == pytest.approx([k + 1 for k in range(len(names))])
    assert recs[0]["layer"] == -1 and recs[-1]["layer"] == 3 and recs[-1]["site"] == "final"
    only = tr.profile_from_cache(cache, n_layers=3, sites=["resid_post"])
    assert [r["layer"] for r in only] == [0, 1, 2]
    res = tr.residual_profile(recs)
    assert res["depth"].tolist() == [0, 1, 2, 3]
    assert res["mean"].tolist() == [1.0, 6.0, 11.0, 16.0]  # embed, then each resid_post


def test_expected_growth_is_sqrt_sum_of_squares():
    # independent updates of constant size c: sqrt(e + k c), the sqrt(depth) law
    g = tr.expected_preln_growth(1.0, np.full(8, 0.5))
    assert g == pytest.approx(np.sqrt(1.0 + 0.5 * np.arange(9)))
    # Monte Carlo: a sum of independent random vectors has exactly this expected square norm
    torch.manual_seed(0)
    d, n, B = 64, 6, 4000
    sizes = torch.tensor([1.0, 0.3, 0.7, 0.2, 0.9, 0.5, 0.4])  # x0 then six updates
    vecs = torch.randn(B, n + 1, d) / math.sqrt(d) * sizes[None, :, None]
    x = vecs.cumsum(dim=1)  # stream after k updates
    measured = x.pow(2).sum(-1).mean(0).sqrt()
    expected = tr.expected_preln_growth(vecs[:, 0].pow(2).sum(-1).mean().item(),
                                        vecs[:, 1:].pow(2).sum(-1).mean(0).tolist())
    assert measured.numpy() == pytest.approx(expected, rel=0.02)


def test_expected_growth_from_profile_on_a_sum_of_independent_updates():
    # a hand-made "pre-LN stream": x_{k} = x_{k-1} + f_k with independent random f_k
    torch.manual_seed(1)
    L, d = 4, 128
    x = torch.randn(8, 16, d) * 0.5
    cache = {"hook_embed": x}
    for i in range(L):
        cache[f"blocks.{i}.hook_resid_pre"] = x
        a = torch.randn_like(x) * 0.3
        cache[f"blocks.{i}.hook_attn_out"] = a
        x = x + a
        cache[f"blocks.{i}.hook_resid_mid"] = x
        m = torch.randn_like(x) * 0.4
        cache[f"blocks.{i}.hook_mlp_out"] = m
        x = x + m
        cache[f"blocks.{i}.hook_resid_post"] = x
    out = tr.expected_growth_from_profile(tr.profile_from_cache(cache, L))
    assert out["depth"].tolist() == list(range(L + 1))
    assert out["measured"] == pytest.approx(out["expected"], rel=0.02)
    # analytic value: sqrt(d (0.25 + k (0.09 + 0.16)))
    assert out["expected"] == pytest.approx(np.sqrt(d * (0.25 + 0.25 * np.arange(L + 1))), rel=0.02)
    # correlated updates (f = the stream itself) break the independence prediction
    cache2 = dict(cache)
    for i in range(L):
        cache2[f"blocks.{i}.hook_resid_post"] = cache[f"blocks.{i}.hook_resid_post"] * 2
    out2 = tr.expected_growth_from_profile(tr.profile_from_cache(cache2, L))
    assert not np.allclose(out2["measured"][1:], out2["expected"][1:], rtol=0.1)


def test_heatmap_grid():
    recs = [{"step": s, "layer": l, "site": "resid_post", "mean": 10 * s + l} for s in (0, 5) for l in (0, 1, 2)]
    recs.append({"step": 5, "layer": 0, "site": "attn_out", "mean": -1.0})
    steps, layers, z = tr.heatmap(recs)
    assert steps == [0, 5] and layers == [0, 1, 2]
    assert z.tolist() == [[0, 50], [1, 51], [2, 52]]


# ------------------------------------------------------------------ real models

import angpt  # noqa: E402
from angpt.train import train  # noqa: E402  (angpt.train is the submodule once anything imported it)


def _model(name, **kw):
    torch.manual_seed(0)
    return angpt.build_model(angpt.preset(name, **{**dict(d_model=32, n_layers=2, n_heads=2, seq_len=16), **kw}))


def _idx(B=3, T=16):
    return torch.randint(0, 256, (B, T), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", ["gpt+", "ngpt", "angpt"])
def test_norm_profile_matches_the_cache(name):
    model, idx = _model(name), _idx()
    recs = tr.norm_profile(model, idx)
    token_hooks = [n for n in model.hook_names if n == "hook_embed" or n == "hook_final" or
                   tr._BLOCK_HOOK.match(n) and tr.parse_hook(n)[1] in tr.SITES]
    assert [r["hook"] for r in recs] == token_hooks  # every token-vector hook, in forward order
    _, cache = model.run_with_cache(idx)
    for r in recs:
        n = cache[r["hook"]].float().norm(dim=-1).flatten()
        assert r["mean"] == pytest.approx(n.mean().item(), rel=1e-5)
        assert r["max"] == pytest.approx(n.max().item(), rel=1e-5)
        assert r["min"] == pytest.approx(n.min().item(), rel=1e-5)
    assert model.training  # restored after the eval-mode pass


def test_ngpt_stream_is_exactly_on_the_sphere_and_gpt_is_not():
    res = tr.residual_profile(tr.norm_profile(_model("ngpt"), _idx()))
    assert res["min"] == pytest.approx(1.0, abs=1e-5) and res["max"] == pytest.approx(1.0, abs=1e-5)
    res = tr.residual_profile(tr.norm_profile(_model("gpt"), _idx()))
    # GPT's embedding rows are N(0, 0.02^2): norm ~ 0.02 sqrt(d), far from 1
    assert res["mean"][0] == pytest.approx(0.02 * math.sqrt(32), rel=0.3)


def test_weight_and_scale_stats():
    ws = tr.weight_stats(_model("angpt"))
    assert ws and all(s["at_bound"] == 1.0 for s in ws.values())  # rows normalized to 1 at init
    m = _model("angpt")
    with torch.no_grad():
        m.head.weight.mul_(0.5)  # pull every head row inside the ball
        m.head.weight[0].mul_(2.0)  # ... except one
    ws = tr.weight_stats(m)
    assert ws["head.weight"]["at_bound"] == pytest.approx(1 / 256)
    assert ws["head.weight"]["min"] == pytest.approx(0.5, rel=1e-5)
    gpt = tr.weight_stats(_model("gpt"))
    assert set(gpt) == {n for n, p in _model("gpt").named_parameters() if p.dim() == 2}
    sc = tr.scale_stats(_model("ngpt"))
    assert sc["blocks.0.alpha_attn"]["mean"] == pytest.approx(0.05, rel=1e-5)  # nGPT's alpha init


def test_recorder_keeps_due_steps_only_and_flattens():
    model = _model("angpt")
    rec = tr.NormRecorder(every=5, probe_batch=2, probe_len=8)
    for step in range(11):
        out = rec.record(step, model)
        assert bool(out) == (step % 5 == 0)
    assert [e["step"] for e in rec.history] == [0, 5, 10]
    assert rec.probe.shape == (2, 8)
    flat = rec.to_records()
    assert len(flat) == 3 * len(rec.history[0]["norms"]) and set(flat[0]) == {"step", "hook", "layer", "site", *tr.STAT_KEYS}
    steps, layers, z = tr.heatmap(flat)
    assert steps == [0, 5, 10] and layers == [0, 1] and not np.isnan(z).any()
    assert {r["name"] for r in rec.weight_records()} >= {"head.weight"}
    assert any(r["name"] == "s_z" for r in rec.scale_records())
    assert rec.record(3, model, force=True)["step"] == 3


def test_recorder_in_the_training_loop_costs_under_ten_percent():
    """Overhead at the quick size, measured inside one run: the time spent recording (one
    probe forward pass, weight norms, scales every `track_every` steps) against the time of
    the training steps themselves (angpt.train times steps only)."""
    cfg = angpt.preset("angpt", d_model=64, n_layers=4, n_heads=2, seq_len=64)
    tcfg = angpt.TrainConfig.for_arch("angpt", steps=20, batch_size=8, track_every=10, eval_every=0,
                                      eval_tokens=512)
    rec = tr.NormRecorder(every=10, probe_batch=4, probe_len=64)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core, as the book's quick mode; steadier timings on a shared CPU
    try:
        run = train(cfg, tcfg, recorder=rec, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert [e["step"] for e in run.norms] == [0, 10, 20]
    assert run.norms == rec.history
    recording = sum(e["seconds"] for e in run.norms[1:])  # the in-training records
    overhead = recording / run.train_time
    print(f"recorder overhead {overhead:.1%} ({recording:.3f} s of {run.train_time:.3f} s)")
    assert overhead < 0.10


# ------------------------------------------------------------------ chapter 4 geometry, the grid


def test_lerp_angle_closed_form_against_measurement_and_limits():
    for alpha in (0.05, 0.3, 0.7):
        for theta in (0.2, 1.5, 3.0):
            assert tr.measured_lerp_angle(alpha, theta, d=32, n=64) == pytest.approx(tr.lerp_angle(alpha, theta), abs=1e-9)
    small = np.array([1e-4])
    assert tr.lerp_angle(0.3, small)[0] == pytest.approx(0.3 * 1e-4, rel=1e-3)  # agrees with SLERP near 0
    assert tr.lerp_angle(0.05, math.pi / 2) == pytest.approx(math.atan(0.05 / 0.95))
    assert tr.lerp_angle(0.3, math.pi - 1e-9) == pytest.approx(0.0, abs=1e-6)  # alpha < 1/2: no move at 180 deg
    with pytest.raises(ValueError, match="alpha"):
        tr.lerp_angle(1.5, 1.0)
    with pytest.raises(ValueError, match="alpha"):
        tr.measured_lerp_angle(-0.1, 1.0)


def test_sublayer_angles_of_an_untrained_model_are_near_90_degrees():
    recs = tr.sublayer_angles(_model("ngpt", d_model=64), _idx())
    assert [(r["layer"], r["site"]) for r in recs] == [(0, "attn"), (0, "mlp"), (1, "attn"), (1, "mlp")]
    assert all(75 < r["mean"] < 105 and r["min"] <= r["mean"] <= r["max"] for r in recs)


def test_norm_lab_jobs_and_lookup():
    jobs = tr.norm_lab_jobs("lab", "quick")
    g = tr.NORM_LAB["quick"]["lab"]
    assert len(jobs) == len(g["archs"]) * len(g["lrs"])
    assert {j["arch"] for j in jobs} == set(g["archs"]) and all(j["depth"] == g["depth"] for j in jobs)
    widths = [j["width"] for j in tr.norm_lab_jobs("width", "full")]
    assert widths == list(tr.NORM_LAB["full"]["width"]["widths"])
    assert tr.find_run(jobs, arch="ngpt", lr=g["lrs"][0])["arch"] == "ngpt"
    with pytest.raises(ValueError, match="available"):
        tr.find_run(jobs, arch="ngpt")  # several match
    with pytest.raises(ValueError, match="valid choices"):
        tr.norm_lab_jobs("colour")
    with pytest.raises(ValueError, match="valid choices"):
        tr.norm_lab_jobs("lab", "medium")
    assert tr._round({"a": [1.234567, float("nan")], "b": 3}) == {"a": [1.235, None], "b": 3}


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is faster, and steadier on a shared CPU
    yield
    torch.set_num_threads(threads)


def test_norm_lab_run_summary_is_small_and_json_ready(monkeypatch, one_thread):
    import json

    quick = {**tr.NORM_LAB["quick"], "train": {**tr.NORM_LAB["quick"]["train"], "steps": 6}, "track_every": 2}
    monkeypatch.setitem(tr.NORM_LAB, "quick", quick)
    job = dict(part="width", arch="angpt", lr=2e-3, depth=2, width=32)
    out = tr.norm_lab_run(job, "quick")
    json.dumps(out, allow_nan=False)
    assert out["diverged_at"] is None and out["final_val_loss"] > 0
    assert [e["step"] for e in out["norms"]] == [0, 2, 4, 6]
    first, middle = out["norms"][0], out["norms"][1]
    assert len(first["norms"]) == 2 + 5 * 2 and {r["site"] for r in middle["norms"]} == {"embed", "resid_post"}
    assert "weights" in middle and "scales" in middle  # the width part keeps the bound statistics
    depth = tr.norm_lab_run({**job, "part": "depth", "arch": "gpt+"}, "quick")
    assert [e["step"] for e in depth["norms"]] == [0, 6] and "weights" not in depth["norms"][0]
