"""What a step dispatches, counted: ATen ops, the kernels among them and the bytes they write.

A GPU step at our sizes is bound by kernel launches and memory traffic, not by FLOPs, so
these deterministic counts are the CPU-visible proxy for GPU cost that `angpt.bench` reports
next to its times and that tests can assert (a timing could only be reported).

    angpt.opcount.op_counts(cfg)                 # per training-step phase, or inference=True
    angpt.opcount.forward_ops(model, idx)        # one forward pass, ops grouped by kind (chapter 9)
"""

from __future__ import annotations

import torch

from .config import TrainConfig, preset


# What a forward pass executes, op by op (chapter 9: "nothing left but QK-norm and the
# linear maps"). Groups of ATen ops, as the dispatcher sees them; anything else is 'other'.
OP_GROUPS = {
    "matmul": ("mm", "bmm", "addmm", "matmul", "linear", "baddbmm"),
    "attention": ("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
                  "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
                  "scaled_dot_product_attention", "_scaled_dot_product_attention_math", "softmax", "_softmax"),
    # a reduction over a token's vector that the output is then divided by
    "normalization": ("linalg_vector_norm", "norm", "mean", "var_mean", "_fused_rms_norm", "rms_norm",
                      "native_layer_norm", "layer_norm"),
    "elementwise": ("mul", "mul_", "add", "add_", "sub", "rsub", "div", "div_", "pow", "abs", "addcmul", "silu",
                    "clamp_min", "rsqrt", "sqrt", "neg", "tanh", "exp", "where", "masked_fill"),
    "layout": ("view", "_unsafe_view", "t", "permute", "transpose", "slice", "split", "unbind", "clone", "cat",
               "expand", "reshape", "contiguous", "chunk", "unsqueeze", "squeeze", "select", "embedding",
               "_to_copy", "to", "alias", "detach"),
}


@torch.no_grad()
def forward_ops(model: torch.nn.Module, idx: torch.Tensor) -> dict:
    """{'ops': {aten op: count}, 'groups': {group: count}} of one forward pass on idx.

    Counted below autograd with a TorchDispatchMode, so the numbers are what runs, e.g.
    RMSNorm as pow/mean/add/rsqrt/mul where torch has no fused kernel. The input check
    (ids within the vocabulary) counts as 'other'.
    """
    from collections import Counter

    from torch.utils._python_dispatch import TorchDispatchMode

    class _Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops[func.overloadpacket.__name__] += 1
            return func(*args, **(kwargs or {}))

    was_training = model.training
    model.eval()
    try:
        with _Count() as c:
            model(idx)
    finally:
        model.train(was_training)
    group_of = {op: g for g, ops in OP_GROUPS.items() for op in ops}
    groups = Counter({g: 0 for g in (*OP_GROUPS, "other")})
    for op, n in c.ops.items():
        groups[group_of.get(op, "other")] += n
    return {"ops": dict(sorted(c.ops.items())), "groups": dict(groups)}


# ------------------------------------------------------------------------------ op counts
#
# A GPU step at our sizes is bound by kernel launches and memory traffic, not by FLOPs, so
# every extra elementwise op costs time there even where a CPU barely notices it. Counting
# the ATen ops a step dispatches (below autograd, so backward ops count too) makes that cost
# visible and deterministic on any machine. "Bytes" is a proxy for memory traffic: the sum of
# the sizes of the tensors the ops write (views, which write nothing, are left out).

TRAIN_PHASES = ("forward", "backward", "optimizer", "constraint")


class OpCounter:
    """A TorchDispatchMode that counts, per phase, the ATen ops run, the kernels among them
    (ops that write a tensor: views, metadata and host reads such as .item() write none) and
    the bytes those kernels write.

        counter = OpCounter()
        with counter:
            counter.phase = "forward"; ...
            counter.phase = "backward"; ...
        counter.ops["forward"]      # Counter {aten op name: calls}
        counter.kernels["forward"], counter.bytes["forward"]
    """

    def __init__(self):
        from collections import Counter, defaultdict

        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                counter._record(func, out)
                return out

        self._mode = _Mode()
        self.phase = "all"
        self.ops: dict[str, Counter] = defaultdict(Counter)
        self.kernels: dict[str, int] = defaultdict(int)
        self.bytes: dict[str, int] = defaultdict(int)

    def _record(self, func, out) -> None:
        self.ops[self.phase][func.overloadpacket.__name__] += 1
        returns = func._schema.returns
        outs = out if isinstance(out, (tuple, list)) else (out,)
        written = 0
        wrote = False
        for i, t in enumerate(outs):
            if not isinstance(t, torch.Tensor):
                continue
            alias = returns[i].alias_info if i < len(returns) else None
            if alias is not None and not alias.is_write:  # a view: no memory written
                continue
            wrote = True
            written += t.numel() * t.element_size()
        self.kernels[self.phase] += wrote
        self.bytes[self.phase] += written

    def __enter__(self):
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self._mode.__exit__(*exc)

    def summary(self, phases) -> dict:
        """{'ops': {phase: n}, 'kernels': {phase: n}, 'bytes': {phase: n}} and their totals."""
        out = {"ops": {p: sum(self.ops[p].values()) for p in phases},
               "kernels": {p: self.kernels[p] for p in phases},
               "bytes": {p: self.bytes[p] for p in phases}}
        for key in ("ops", "kernels", "bytes"):
            out[f"total_{key}"] = sum(out[key].values())
        out["by_op"] = {p: dict(sorted(self.ops[p].items())) for p in phases}
        return out


def count_ops(fn) -> dict:
    """OpCounter.summary of one call of fn(), as the single phase 'call'."""
    c = OpCounter()
    c.phase = "call"
    with c:
        fn()
    return c.summary(["call"])


def op_counts(cfg, batch_size: int = 2, seq_len: int | None = None, inference: bool = False,
              folded: bool = False, seed: int = 0, device: str = "cpu") -> dict:
    """ATen ops and bytes written per training step of the model `cfg` (a ModelConfig or a
    preset name), by phase: OpCounter.summary, {'ops' | 'kernels' | 'bytes': {phase: n},
    'total_ops', 'total_kernels', 'total_bytes', 'by_op': {phase: {aten op: n}}}. The count
    is deterministic: it depends on the code path, not on timing or data.

    Training (`inference=False`): the phases of `angpt.train.train_step`, run in its order
    after one untimed step (so Adam's state exists): 'forward' (loss), 'backward',
    'optimizer' (divergence checks, gradient clipping, Adam, zero_grad) and 'constraint'
    (the weight projection). Inference: one forward pass under torch.no_grad in eval mode,
    as phase 'forward'; `folded` counts the anGPT's fold (angpt.fold) instead.
    """
    from .constraints import constrain_
    from .model import build_model
    from .train import autocast, make_optimizer, resolve_device, train_step

    if isinstance(cfg, str):
        cfg = preset(cfg)
    dev = resolve_device(device)
    T = cfg.seq_len if seq_len is None else seq_len
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, cfg.vocab_size, (batch_size, T), generator=g).to(dev)
    y = torch.randint(0, cfg.vocab_size, (batch_size, T), generator=g).to(dev)
    torch.manual_seed(seed)
    model = build_model(cfg).to(dev)
    if folded:
        if not inference:
            raise ValueError("folded=True counts a forward pass: pass inference=True (a folded model does not train)")
        from .fold import fold

        model = fold(model)
    c = OpCounter()
    if inference:
        model.eval()
        with torch.no_grad(), autocast(dev), c:
            c.phase = "forward"
            model(x)
    else:
        import math

        from .train import loss_fn

        model.train()
        tcfg = TrainConfig.for_arch(cfg.arch)
        opt = make_optimizer(model, tcfg, dev)
        train_step(model, model, opt, x, y, tcfg.grad_clip)  # Adam's state now exists
        params = [p for group in opt.param_groups for p in group["params"]]
        clip = tcfg.grad_clip if tcfg.grad_clip > 0 else float("inf")
        with c:  # train_step, phase by phase (tests/test_bench.py checks the sum against it)
            c.phase = "forward"
            with autocast(dev):
                loss = loss_fn(model, x, y)
            c.phase = "backward"
            loss.backward()
            c.phase = "optimizer"
            assert math.isfinite(loss.item())
            assert math.isfinite(torch.nn.utils.clip_grad_norm_(params, clip).item())
            opt.step()
            opt.zero_grad(set_to_none=True)
            c.phase = "constraint"
            constrain_(model, check=False)
    return c.summary(("forward",) if inference else TRAIN_PHASES)
