"""Chapter 9: folding a *trained* anGPT, the KV cache and generation, the inference benchmark."""

import json

import pytest
import torch

from angpt import bench
from angpt.__main__ import main
from angpt.config import TrainConfig, preset
from angpt.decode import KVCache, forward_cached, generate
from angpt.fold import fold, fold_error
from angpt.model import build_model
from angpt.train import train

SMALL = dict(d_model=32, n_layers=2, n_heads=2, seq_len=32)


@pytest.fixture(scope="module")
def trained():
    """anGPT after 8 real Adam steps (large lr, so alpha, s_z, s_qk and weights all move)."""
    torch.manual_seed(0)
    out = {}
    for name, kw in (("angpt", {}), ("no-qk", dict(qk_norm=False)), ("no-nu", dict(lerp_factor=False))):
        cfg = preset("angpt", **SMALL, **kw)
        rec = train(cfg, TrainConfig.for_arch("angpt", steps=8, batch_size=4, lr=3e-2, eval_every=0, eval_tokens=256,
                                             device="cpu"), progress=False)
        out[name] = rec.model.eval()
    return out


@pytest.mark.parametrize("name", ["angpt", "no-qk", "no-nu"])
def test_fold_of_a_trained_model_is_exact(trained, name):
    model = trained[name]
    init = build_model(model.cfg)
    alpha = model.blocks[0].alpha_attn()
    assert (alpha - init.blocks[0].alpha_attn()).abs().max() > 1e-3  # training moved the scales
    assert (model.s_z() - init.s_z()).abs().max() > 1e-3
    folded = fold(model)
    g = torch.Generator().manual_seed(3)
    idx = torch.randint(0, 256, (4, SMALL["seq_len"]), generator=g)
    assert fold_error(model, folded, idx) <= 1e-5
    assert (folded(idx) - model(idx)).abs().max() <= 1e-4 * model(idx).abs().max()


# ----------------------------------------------------------------------------------- KV cache


@pytest.mark.parametrize("name,kw", [("gpt", {}), ("gpt+", {}), ("ngpt", {}), ("angpt", {}), ("post-ln", {}),
                                     ("angpt", dict(attn_factor="sqrt_t")), ("angpt", dict(attn_factor="exact"))])
def test_cached_forward_equals_the_full_forward(name, kw):
    torch.manual_seed(0)
    model = build_model(preset(name, **SMALL, **kw)).eval()
    idx = torch.randint(0, 256, (3, 20))
    cache = KVCache(model)
    # a prefill, single tokens and a chunk after a cache: every mask case
    parts = [forward_cached(model, idx[:, :7], cache), forward_cached(model, idx[:, 7:8], cache),
             forward_cached(model, idx[:, 8:15], cache)]
    parts += [forward_cached(model, idx[:, t:t + 1], cache) for t in range(15, 20)]
    torch.testing.assert_close(torch.cat(parts, dim=1), model(idx), rtol=1e-5, atol=1e-5)
    assert cache.pos == 20
    # the attention modules are back to their own forward
    assert all("forward" not in vars(a) for a in cache.attns)


def test_cache_snapshot_and_bad_input():
    model = build_model(preset("angpt", **SMALL)).eval()
    cache = KVCache(model)
    forward_cached(model, torch.zeros(2, 5, dtype=torch.long), cache)
    state = cache.snapshot()
    a = forward_cached(model, torch.ones(2, 1, dtype=torch.long), cache)
    cache.restore(state)
    assert cache.pos == 5
    torch.testing.assert_close(forward_cached(model, torch.ones(2, 1, dtype=torch.long), cache), a)
    with pytest.raises(ValueError, match="exceed seq_len=32"):
        forward_cached(model, torch.zeros(2, 27, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="batch size 3"):
        forward_cached(model, torch.zeros(3, 1, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="another model"):
        forward_cached(build_model(preset("angpt", **SMALL)), torch.zeros(2, 1, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="KVCache"):
        forward_cached(model, torch.zeros(2, 1, dtype=torch.long), {})
    with pytest.raises(ValueError, match="token ids must lie"):
        forward_cached(model, torch.full((2, 1), 256), KVCache(model))
    with pytest.raises(ValueError, match="attention layers"):
        KVCache(torch.nn.Linear(2, 2))


# ----------------------------------------------------------------------------------- generation


def test_folded_and_unfolded_generate_the_same_text(trained):
    model = trained["angpt"]
    folded = fold(model)
    prompt = torch.randint(0, 256, (2, 6), generator=torch.Generator().manual_seed(0))
    gen = lambda m, **kw: generate(m, prompt, 40, temperature=1.0, top_k=20,  # noqa: E731
                                   generator=torch.Generator().manual_seed(7), **kw)
    a, b = gen(model), gen(folded)
    assert a.shape == (2, 46) and torch.equal(a[:, :6], prompt)
    assert torch.equal(a, b)  # 46 > seq_len 32: the sliding window after the cache is used too
    assert torch.equal(a, gen(model, use_cache=False))  # the cache changes nothing
    assert not torch.equal(a, generate(model, prompt, 40, top_k=20, generator=torch.Generator().manual_seed(8)))
    greedy = generate(model, prompt, 5, temperature=0)
    assert torch.equal(greedy, generate(folded, prompt, 5, temperature=0))
    assert model.training is False and torch.equal(generate(model, prompt, 0), prompt)


def test_generate_bad_input():
    model = build_model(preset("gpt+", **SMALL))
    p = torch.zeros(1, 3, dtype=torch.long)
    for kw, msg in ((dict(max_new_tokens=-1), "max_new_tokens"), (dict(max_new_tokens=2, temperature=-1), "temperature"),
                    (dict(max_new_tokens=2, top_k=0), "top_k")):
        with pytest.raises(ValueError, match=msg):
            generate(model, p, **kw)
    with pytest.raises(ValueError, match="exceeds seq_len"):
        generate(model, torch.zeros(1, 33, dtype=torch.long), 1)


# ----------------------------------------------------------------------------------- benchmark


TINY = {"t16": dict(d_model=16, n_layers=1, n_heads=2, seq_len=16)}
SHAPES = [dict(kind="prefill", batch=2, tokens=16), dict(kind="decode", batch=2, context=15)]


def test_inference_gives_ratios_to_gpt_plus():
    res = bench.inference(sizes=TINY, shapes=SHAPES, steps=2, warmup=1, device="cpu")
    assert res["dtype"] == "float32" and res["kv_cache"] is True
    assert len(res["rows"]) == 2 * len(bench.INFERENCE_MODELS)
    for row in res["rows"]:
        base = next(r for r in res["rows"] if r["kind"] == row["kind"] and r["model"] == "gpt+")
        assert row["ratio"] == pytest.approx(row["median_ms"] / base["median_ms"]) and row["n"] == 2
    assert res["fold_error"]["t16"] <= 1e-5
    n = res["n_params"]["t16"]
    assert n["angpt:folded"] < n["angpt"]  # alpha and s_z are gone, nothing added
    table = bench.format_inference_table(res)
    assert "angpt:folded" in table and "decode B=2 ctx=15" in table and "(1.000)" in table


def test_cli_inference_prints_ratios_and_writes_provenance(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(bench.INFERENCE_SIZES, "quick", {"sizes": TINY, "shapes": SHAPES})
    out = tmp_path / "bench_inference.json"
    assert main(["bench", "--inference", "--size", "quick", "--steps", "2", "--warmup", "0", "--device", "cpu",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "angpt:folded" in text and "(1.000)" in text and "prefill B=2 T=16" in text
    assert "fold: max relative logit error" in text
    saved = json.loads(out.read_text())
    assert saved["experiment"] == "bench-inference" and saved["provenance"]["device"] == saved["device"]
    assert {r["model"] for r in saved["rows"]} == set(bench.INFERENCE_MODELS)


def test_forward_ops_show_what_folding_removes():
    models = bench.inference_models(SMALL)
    idx = torch.randint(0, 256, (1, 8))
    ops = {m: bench.forward_ops(model, idx)["groups"] for m, model in models.items()}
    L = SMALL["n_layers"]
    assert ops["angpt:folded"]["normalization"] == 2 * L  # QK-norm of q and k: all that is left
    # q, k, four Norm() of the stream and the official code's Norm(h) before each LERP, per block
    assert ops["ngpt"]["normalization"] == 8 * L
    assert ops["angpt:folded"]["matmul"] == ops["angpt"]["matmul"] == ops["gpt+"]["matmul"]
    assert ops["angpt:folded"]["elementwise"] < ops["angpt"]["elementwise"]
    assert ops["angpt:folded"]["elementwise"] < ops["gpt+"]["elementwise"]


def test_inference_bad_input():
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        bench.inference(size="huge")
    with pytest.raises(ValueError, match="baseline 'gpt\\+' must be among"):
        bench.inference(models=["ngpt"], sizes=TINY, shapes=SHAPES)
    with pytest.raises(ValueError, match="unknown shape kind 'train'"):
        bench.inference(sizes=TINY, shapes=[dict(kind="train", batch=1)], device="cpu")
    with pytest.raises(ValueError, match="decode context"):
        bench.inference(sizes=TINY, shapes=[dict(kind="decode", batch=1, context=16)], device="cpu")
    with pytest.raises(ValueError, match="unknown model 'ngpt:folded'"):
        bench.inference_models(TINY["t16"], ["gpt+", "ngpt:folded"])
    with pytest.raises(ValueError, match="dtype"):
        bench.inference(sizes=TINY, shapes=SHAPES, dtype="float16", device="cpu")
    with pytest.raises(SystemExit) as usage:  # a usage error (exit 2), not a traceback
        main(["bench", "--inference", "--compile"])
    assert usage.value.code == 2
