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
