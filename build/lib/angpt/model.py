"""The Transformer: token embedding, a stack of blocks, the unembedding head.

    h_0    = E[x]                          (DyT: times a learnable scalar, init sqrt(d_m))
    h_l    = block_l(h_{l-1})              residual rule of the arch, see angpt.blocks
    logits = s_z * W_head N_final(h_L)     N_final: GPT family only; s_z: nGPT/anGPT only

Hook names (identical for every arch, TransformerLens grammar):
    hook_embed, then per block i: blocks.{i}.hook_resid_pre, blocks.{i}.hook_attn_out,
    blocks.{i}.hook_resid_mid, blocks.{i}.hook_mlp_out, blocks.{i}.hook_resid_post,
    and hook_final: the vector the head reads (after N_final where the arch has one).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import layer_placement, lerp_coefficients, make_block
from .config import PRESETS, ModelConfig, preset
from .layers import DyT, HookPoint, LayerNorm, RMSNorm, Scale, TaperNorm, make_norm


def _is_compiling() -> bool:
    compiler = getattr(torch, "compiler", None)
    fn = getattr(compiler, "is_compiling", None)
    return bool(fn()) if fn is not None else False


class Transformer(nn.Module):
    """A decoder-only language model of any arch in `ModelConfig`.

    Choices made here where the papers are silent (see the book's page 'Choices where the
    papers are silent', book/choices.md):
      - untied head for every arch;
      - GPT family: final norm N_final except when the last layer is Post-LN (Post-LN,
        or Mix-LN with every layer post): its stream is already normalized;
        Peri-LN has no extra norm on the embedding (optional in the paper);
        init N(0, init_std), residual projections (attn.proj, mlp.proj) at
        init_std/sqrt(2 L), except with LN-Scaling, whose README asks for plain init;
        DyT scales the embedding by a learnable scalar initialised to sqrt(d_m) (official
        DyT LLaMA port);
      - nGPT/anGPT: no final norm; s_z in R^V (init cfg.logit_scale_init: nGPT 1 as its
        code, anGPT 10; scale 1/sqrt(d_m)) on the logits;
        weights drawn N(0, 1) and normalized (see angpt.constraints) in `build_model`.

    `folded=True` builds the empty shell that `angpt.fold` fills (anGPT only).
    """

    def __init__(self, cfg: ModelConfig, folded: bool = False):
        super().__init__()
        if not isinstance(cfg, ModelConfig):
            raise ValueError(f"cfg must be a ModelConfig, got {type(cfg).__name__}")
        if folded and cfg.arch != "angpt":
            raise ValueError(f"only anGPT can be folded, got arch {cfg.arch!r}")
        self.cfg, self.folded = cfg, folded
        d, V = cfg.d_model, cfg.vocab_size
        self.embed = nn.Embedding(V, d)
        self.embed_scale = nn.Parameter(torch.tensor(math.sqrt(d))) if cfg.arch == "gpt" and cfg.norm == "dyt" else None
        self.hook_embed = HookPoint()
        self.blocks = nn.ModuleList(make_block(cfg, i, folded) for i in range(cfg.n_layers))
        final_norm = cfg.arch == "gpt" and layer_placement(cfg, cfg.n_layers - 1) != "post"
        self.final_norm = make_norm(cfg.norm, d, cfg.dyt_alpha_final) if final_norm else nn.Identity()
        if final_norm and cfg.norm == "taper":  # Internal-Taper keeps its final norm (angpt.taper)
            self.final_norm.tapers = cfg.taper_final
        self.hook_final = HookPoint()
        self.head = nn.Linear(d, V, bias=False)
        self.s_z = Scale(V, cfg.logit_scale_init, 1.0 / math.sqrt(d)) if cfg.arch != "gpt" and not folded else None
        self.hook_dict: dict[str, HookPoint] = {}
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
                self.hook_dict[name] = module
        self.reset_parameters()

    # ----------------------------------------------------------------------------------
    def reset_parameters(self) -> None:
        """Initial weights (nGPT/anGPT are normalized afterwards by `build_model`)."""
        cfg = self.cfg
        if cfg.arch == "gpt":
            std = cfg.init_std
            resid_std = std if cfg.depth_scaling else std / math.sqrt(2 * cfg.n_layers)
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    is_resid = name.endswith("attn.proj.weight") or name.endswith("mlp.proj.weight")
                    nn.init.normal_(p, 0.0, resid_std if is_resid else std)
        else:
            for p in self.parameters():
                if p.dim() == 2:
                    nn.init.normal_(p, 0.0, 1.0)

    # ----------------------------------------------------------------------------------
    def check_input(self, idx: torch.Tensor) -> torch.Tensor:
        """Raise ValueError on anything but a (B, T) integer tensor of valid token ids; return
        the ids as a dtype the embedding takes (angpt.data.encode gives uint8: made int64)."""
        if not isinstance(idx, torch.Tensor):
            raise ValueError(f"idx must be a torch.Tensor of token ids, got {type(idx).__name__}")
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (batch, seq), got shape {tuple(idx.shape)}")
        if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
            raise ValueError(f"idx must be an integer tensor, got dtype {idx.dtype}")
        T = idx.shape[1]
        if T > self.cfg.seq_len:
            raise ValueError(f"sequence length {T} exceeds seq_len={self.cfg.seq_len}")
        if T == 0:
            raise ValueError("idx has an empty sequence dimension")
        if idx.shape[0] == 0:
            raise ValueError("idx has an empty batch dimension")
        if idx.dtype not in (torch.int32, torch.int64):
            idx = idx.long()  # uint8/int8/int16: compared with vocab_size they would wrap around
        if not _is_compiling() and bool(((idx < 0) | (idx >= self.cfg.vocab_size)).any()):
            lo, hi = int(idx.min()), int(idx.max())
            raise ValueError(f"token ids must lie in [0, {self.cfg.vocab_size - 1}] (vocab_size="
                             f"{self.cfg.vocab_size}), got values in [{lo}, {hi}]")
        return idx

    def forward(self, idx: torch.Tensor) -> torch.Tensor:  # idx: (B, T) -> logits (B, T, V)
        idx = self.check_input(idx)
        h = self.embed(idx)  # (B, T, d_m)
        if self.embed_scale is not None:
            h = h * self.embed_scale
        h = self.hook_embed(h)
        if self.cfg.arch == "angpt" and not self.folded:  # every LERP's coefficients at once
            for block, coefs in zip(self.blocks, lerp_coefficients(self.blocks)):
                h = block(h, coefs)
        else:
            for block in self.blocks:
                h = block(h)
        h = self.hook_final(self.final_norm(h))
        logits = self.head(h)  # (B, T, V)
        return logits if self.s_z is None else logits * self.s_z()

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy of `targets` (B, T) given `idx` (B, T)."""
        logits = self(idx)
        if targets.shape != idx.shape:
            raise ValueError(f"targets shape {tuple(targets.shape)} must equal idx shape {tuple(idx.shape)}")
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())

    # ----------------------------------------------------------------------------------
    @property
    def hook_names(self) -> list[str]:
        """Every hook name, in the order the forward pass reaches them."""
        return list(self.hook_dict)

    def run_with_cache(self, idx: torch.Tensor, names_filter=None):
        """Run forward and return (logits, cache), cache = {hook name: activation}.

        names_filter: None (all hooks), a name, a list of names, or a predicate on names.
        Activations are detached; the cache is ordered as the forward pass visits them.
        """
        if isinstance(names_filter, str):
            names_filter = [names_filter]
        if names_filter is None:
            keep = lambda name: True  # noqa: E731
        elif callable(names_filter):
            keep = names_filter
        else:
            wanted = set(names_filter)
            unknown = sorted(wanted - set(self.hook_dict))
            if unknown:
                raise ValueError(f"unknown hook name(s) {unknown}; valid names: {self.hook_names}")
            keep = wanted.__contains__
        cache: dict[str, torch.Tensor] = {}
        for name, hook in self.hook_dict.items():
            hook.cache = cache if keep(name) else None
        try:
            logits = self(idx)
        finally:
            for hook in self.hook_dict.values():
                hook.cache = None
        return logits, cache

    def scales(self) -> dict[str, torch.Tensor]:
        """{name: value in use} of every learned scale: nGPT/anGPT's alpha (as |alpha|),
        s_qk, s_u, s_v, s_z; the GPT family's norm gains (and DyT's alpha, embed_scale)."""
        out: dict[str, torch.Tensor] = {}
        for name, module in self.named_modules():
            if isinstance(module, Scale):
                value = module()
                out[name] = value.abs() if name.rsplit(".", 1)[-1].startswith("alpha") else value
            elif isinstance(module, (RMSNorm, LayerNorm, DyT, TaperNorm)):
                for pname, p in module.named_parameters(recurse=False):
                    out[f"{name}.{pname}"] = p
        if self.embed_scale is not None:
            out["embed_scale"] = self.embed_scale
        return out

    @property
    def factors(self) -> dict[str, float]:
        """The constant factors this model multiplies by (anGPT: those of angpt.factors, times
        cfg.factor_scale, read from the blocks themselves; {} for every other arch)."""
        if self.cfg.arch != "angpt" or self.folded:
            return {}
        return dict(self.blocks[0].factors)

    @torch.no_grad()
    def attention_patterns(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """Softmax probabilities of every layer, [(B, n_h, T, T)] * n_layers, computed
        explicitly beside the normal (fused) attention: for analysis, not for speed."""
        attns = [block.attn for block in self.blocks]
        sink: list[torch.Tensor] = []
        for attn in attns:
            attn.pattern_sink = sink
        try:
            self(idx)
        finally:
            for attn in attns:
                attn.pattern_sink = None
        return sink

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return f"arch={self.cfg.arch!r}, folded={self.folded}"


def build_model(cfg, **overrides) -> Transformer:
    """A freshly initialised model; nGPT/anGPT weights already normalized.

    cfg: a ModelConfig, or a preset name (then `overrides` are passed to `preset`).
    """
    if isinstance(cfg, str):
        cfg = preset(cfg, **overrides)
    elif overrides:
        cfg = cfg.replace(**overrides)
    if not isinstance(cfg, ModelConfig):
        raise ValueError(f"cfg must be a ModelConfig or a preset name ({', '.join(PRESETS)}), "
                         f"got {type(cfg).__name__}")
    model = Transformer(cfg)
    from .constraints import normalize_

    normalize_(model)
    return model


__all__ = ["Transformer", "build_model"]
