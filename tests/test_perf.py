"""Step cost as deterministic op counts (angpt.bench.op_counts), not as timings.

At our sizes a GPU step is bound by kernel launches and memory traffic, so what anGPT must
not do is dispatch more operations than GPT+. These counts are exact and machine-independent
for a given torch version; the timings stay in `python -m angpt bench`.
"""

import pytest
import torch

from angpt import bench, build_model, preset
from angpt.constraints import constrain_, constrained_weights

D256_L4 = dict(d_model=256, n_layers=4, n_heads=4, seq_len=64)  # the size; T does not change the counts


def test_angpt_train_step_dispatches_at_most_5_percent_more_ops_than_gpt_plus():
    ours = bench.op_counts(preset("angpt", **D256_L4))
    base = bench.op_counts(preset("gpt+", **D256_L4))
    ratio = ours["total_ops"] / base["total_ops"]
    assert ratio <= 1.05, (ratio, ours["ops"], base["ops"])
    assert ours["total_kernels"] <= 1.05 * base["total_kernels"], (ours["kernels"], base["kernels"])


def test_folded_angpt_forward_dispatches_no_more_ops_than_gpt_plus():
    folded = bench.op_counts(preset("angpt", **D256_L4), inference=True, folded=True)
    base = bench.op_counts(preset("gpt+", **D256_L4), inference=True)
    assert folded["total_ops"] <= base["total_ops"], (folded["total_ops"], base["total_ops"])
    assert folded["total_bytes"] <= base["total_bytes"]


@pytest.mark.parametrize("name", ["ngpt", "angpt"])
def test_the_constraint_is_a_few_kernels_whatever_the_depth_and_never_syncs(name):
    counts = [bench.op_counts(preset(name, d_model=32, n_heads=2, seq_len=8, n_layers=L), seq_len=8)
              for L in (2, 4)]
    assert counts[0]["kernels"]["constraint"] == counts[1]["kernels"]["constraint"] <= 10
    assert "_local_scalar_dense" not in counts[1]["by_op"]["constraint"]  # no .item()/bool(): no host sync


@pytest.mark.parametrize("name", ["ngpt", "angpt"])
def test_the_stacked_projection_equals_the_per_matrix_one(name):
    torch.manual_seed(0)
    model = build_model(preset(name, d_model=32, n_heads=2, seq_len=8, n_layers=2))
    with torch.no_grad():
        for _, p, _ in constrained_weights(model):
            p.mul_(0.5 + torch.rand(p.shape[0], 1))  # norms on both sides of 1
    before = {n: (p.detach().clone(), dim) for n, p, dim in constrained_weights(model)}
    constrain_(model)
    for n, p, dim in constrained_weights(model):
        w, _ = before[n]
        norm = w.norm(dim=dim, keepdim=True)
        want = w / (norm.clamp_min(1e-12) if name == "ngpt" else norm.clamp_min(1.0))
        torch.testing.assert_close(p.detach(), want, rtol=1e-6, atol=1e-7)


def _weight_only_kernels(model, idx) -> list[str]:
    """The ops of a forward pass that write a tensor computed from parameters and buffers
    alone (no activation): work a weight could absorb once, instead of every forward pass."""
    from torch.utils._python_dispatch import TorchDispatchMode

    static = {id(t) for t in (*model.parameters(), *model.buffers())}
    found, keep = [], []

    class Mode(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            ins = [a for a in torch.utils._pytree.tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
            outs = [o for o in torch.utils._pytree.tree_leaves(out) if isinstance(o, torch.Tensor)]
            if ins and all(id(a) in static for a in ins):
                static.update(id(o) for o in outs)
                keep.extend(outs)  # alive till the end: no other tensor can reuse their id
                views = all(r.alias_info is not None and not r.alias_info.is_write for r in func._schema.returns)
                if not views:
                    found.append(func.overloadpacket.__name__)
            return out

    with torch.no_grad(), Mode():
        model(idx)
    return found


def test_folded_angpt_leaves_nothing_a_weight_could_absorb():
    from angpt.fold import fold

    for qk in ({}, dict(qk_norm_gain="separate", qk_norm_position="before_rope")):
        torch.manual_seed(0)
        model = build_model(preset("angpt", d_model=32, n_heads=2, seq_len=8, n_layers=2, **qk)).eval()
        idx = torch.randint(0, 256, (1, 8))
        assert _weight_only_kernels(model, idx)  # anGPT itself: |alpha|, nu(alpha), s_z, ... (the test can fail)
        assert _weight_only_kernels(fold(model), idx) == []


def test_angpt_hooks_still_see_and_replace_the_scaled_sublayer_outputs():
    """anGPT folds each sublayer's constant into its LERP coefficient; a cache or a hook still
    gets nu_p W_o o (and nu_d W_d m), and what a hook returns is what the LERP mixes in."""
    from angpt.blocks import lerp_coefficients

    torch.manual_seed(0)
    model = build_model(preset("angpt", d_model=32, n_heads=2, seq_len=8, n_layers=2))
    idx = torch.randint(0, 256, (2, 8))
    logits, cache = model.run_with_cache(idx)
    torch.testing.assert_close(logits, model(idx))  # watched or not, the same numbers
    blk = model.blocks[0]
    h = cache["blocks.0.hook_resid_pre"]
    blk.attn.defer_out_scale = False  # the sublayer with its own constant
    torch.testing.assert_close(cache["blocks.0.hook_attn_out"], blk.attn(h))
    blk.attn.defer_out_scale = True
    handle = blk.hook_attn_out.register_forward_hook(lambda module, args, out: torch.zeros_like(out))
    try:
        _, ablated = model.run_with_cache(idx)
    finally:
        handle.remove()
    A_att = lerp_coefficients([blk])[0][0]
    torch.testing.assert_close(ablated["blocks.0.hook_resid_mid"], A_att * h)  # the LERP mixed in zeros
