"""Configuration: one dataclass for the model, one for training, and the named presets.

Every public entry point of the library takes a `ModelConfig`; every training run a
`TrainConfig`. Both validate themselves on construction, so a bad value fails at the
line that made it, with a message naming the value and the valid choices.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace

ARCHS = ("gpt", "ngpt", "angpt")
NORMS = ("rmsnorm", "layernorm", "dyt", "taper")
PLACEMENTS = ("pre", "post", "peri", "mix")
WEIGHT_CONSTRAINTS = ("unit", "bound", "none")
ATTN_FACTORS = ("none", "sqrt_t", "exact")
QK_NORM_GAINS = ("shared", "separate")
QK_NORM_POSITIONS = ("after_rope", "before_rope")


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid choices: {', '.join(map(repr, choices))}")


def _number(name: str, value) -> None:
    """A real number (int or float, not bool): checked before any comparison, so a string
    fails with its field's name, not with '<=' not supported between 'float' and 'str'."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")


def _flag(name: str, value) -> None:
    if not isinstance(value, bool):  # "no" is truthy: a string would silently switch it on
        raise ValueError(f"{name} must be True or False, got {value!r}")


# Size guard: a config this large cannot be built on any single machine the book targets
# (1e10 float32 weights are 40 GB before the optimizer's 80 GB); fail at the config, not in
# the allocator. The largest model in the book is ~1e8.
MAX_PARAMS = 10**10


def _positive(name: str, value, integer: bool = True) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) if integer else isinstance(value, (int, float))
    if not ok or value <= 0 or (not integer and not math.isfinite(value)):
        kind = "a positive integer" if integer else "a positive finite number"
        raise ValueError(f"{name} must be {kind}, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a model. Field names are a public contract (chapters and saved runs use them).

    arch           'gpt' (the GPT family, switched by norm/placement/...), 'ngpt', 'angpt'
    norm           GPT family: 'rmsnorm', 'layernorm', 'dyt', 'taper'
    placement      GPT family: 'pre', 'post', 'peri', 'mix' (mix: post-LN in the first
                   mix_fraction of the layers, pre-LN after)
    depth_scaling  LN-Scaling: multiply each sublayer's normalized input by 1/sqrt(layer)
    qk_norm        normalize q and k per head (GPT+ and anGPT: on; nGPT always normalizes)
    qk_norm_gain   'separate' (a q gain and a k gain, as Llama-family models with QK-norm
                   learn: the GPT family's default) or 'shared' (one gain for q and k: nGPT's
                   s_qk, the ngpt and angpt presets)
    qk_norm_position  'before_rope' (the GPT family's default: the score then depends only on
                   relative position whatever the learned gain; after RoPE a gain with
                   g_i != g_{i+d_h/2} breaks that) or 'after_rope' (nGPT's code; presets
                   ngpt, angpt)
    logit_scale_init  nGPT/anGPT: the initial value of s_z on the logits (nGPT's code: 1).
                   With unit rows and a unit stream every logit is <= |s_z|, so at 1 the only
                   fast way to lower the loss is to grow the stream (anGPT preset: 10)
    lerp_norm_input  nGPT: normalize h before each LERP, as the official code does (a no-op
                   in the forward pass, not in the backward: it removes the radial gradient)
    lerp_factor    anGPT: multiply the LERP residual by nu(alpha) (ablation switch)
    taper_final    norm='taper': taper the final norm too (All-Taper); False keeps it (Internal-Taper)
    dyt_alpha_attn, dyt_alpha_mlp, dyt_alpha_final
                   norm='dyt': alpha_0 of the DyT before attention, before the MLP, and of the
                   final norm. Default 0.5 each, DyT's default outside LLMs (Zhu et al. 2025,
                   "Transformers without Normalization", arXiv:2503.10622). Their LLM recipe sets
                   the three separately, attention 4x the others (official LLaMA port, flags
                   attn/ffn/dec_alpha_init_value: 7B 0.8/0.2/0.2, 13B 0.6/0.15/0.15, 34B and 70B
                   0.2/0.05/0.05), smaller for wider models. Those widths are >= 4096; the
                   'dyt' preset keeps the 4:1:1 ratio and scales it to our widths (see PRESETS).
    weight_constraint  None picks the arch's own: gpt 'none', ngpt 'unit', angpt 'bound'
    """

    arch: str = "gpt"
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    vocab_size: int = 256
    seq_len: int = 256
    mlp_ratio: int = 4
    # GPT family
    norm: str = "rmsnorm"
    placement: str = "pre"
    depth_scaling: bool = False
    mix_fraction: float = 0.25
    # DyT's alpha_0 per position (attention-input, MLP-input, final norm), as in the official
    # LLaMA recipe; 0.5 everywhere is the paper's non-LLM default. The 'dyt' preset sets its own.
    dyt_alpha_attn: float = 0.5
    dyt_alpha_mlp: float = 0.5
    dyt_alpha_final: float = 0.5
    taper_final: bool = False
    init_std: float = 0.02
    # all archs
    qk_norm: bool = False
    qk_norm_gain: str = "separate"  # the GPT family's; the ngpt/angpt presets take nGPT's
    qk_norm_position: str = "before_rope"
    # nGPT / anGPT
    alpha_init: float = 0.05
    logit_scale_init: float = 1.0
    lerp_norm_input: bool = True
    lerp_factor: bool = True
    weight_constraint: str | None = None
    attn_factor: str = "none"
    factor_scale: float = 1.0  # multiplies every constant factor except nu(alpha): ablations

    def __post_init__(self):
        _choice("arch", self.arch, ARCHS)
        _choice("norm", self.norm, NORMS)
        _choice("placement", self.placement, PLACEMENTS)
        _choice("attn_factor", self.attn_factor, ATTN_FACTORS)
        _choice("qk_norm_gain", self.qk_norm_gain, QK_NORM_GAINS)
        _choice("qk_norm_position", self.qk_norm_position, QK_NORM_POSITIONS)
        if self.weight_constraint is not None:
            _choice("weight_constraint", self.weight_constraint, WEIGHT_CONSTRAINTS)
            if self.arch == "gpt" and self.weight_constraint != "none":
                raise ValueError(
                    f"weight_constraint={self.weight_constraint!r} applies to arch 'ngpt' or 'angpt' "
                    f"only; the GPT family takes None or 'none'"
                )
        for name in ("d_model", "n_layers", "n_heads", "vocab_size", "seq_len", "mlp_ratio"):
            _positive(name, getattr(self, name))
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}; "
                f"choose n_heads among the divisors of d_model"
            )
        if (self.d_model // self.n_heads) % 2:
            raise ValueError(f"head dim d_model/n_heads={self.d_model // self.n_heads} must be even for RoPE")
        for name in ("mix_fraction", "alpha_init"):
            _number(name, getattr(self, name))
        for name in ("depth_scaling", "qk_norm", "lerp_factor", "taper_final", "lerp_norm_input"):
            _flag(name, getattr(self, name))
        if not 0.0 <= self.mix_fraction <= 1.0:
            raise ValueError(f"mix_fraction must lie in [0, 1], got {self.mix_fraction!r}")
        if not 0.0 < self.alpha_init < 1.0:
            raise ValueError(f"alpha_init must lie in (0, 1), got {self.alpha_init!r}")
        for name in ("dyt_alpha_attn", "dyt_alpha_mlp", "dyt_alpha_final", "init_std", "factor_scale",
                     "logit_scale_init"):
            _positive(name, getattr(self, name), integer=False)
        if self.arch != "gpt":  # GPT-family switches an nGPT/anGPT model would silently ignore
            for name, default in (("norm", "rmsnorm"), ("placement", "pre"), ("depth_scaling", False)):
                if getattr(self, name) != default:
                    raise ValueError(f"{name}={getattr(self, name)!r} applies to the GPT family (arch 'gpt') "
                                     f"only; arch {self.arch!r} takes the default {default!r}")
        if self.arch == "ngpt" and not self.qk_norm:
            raise ValueError("qk_norm=False does not apply to arch 'ngpt': nGPT always normalizes q and k "
                             "(use arch 'angpt' or 'gpt' to switch QK-norm off)")
        n = self.n_params_estimate
        if n > MAX_PARAMS:
            raise ValueError(f"this ModelConfig has about {n:.3g} parameters, more than the size guard "
                             f"MAX_PARAMS={MAX_PARAMS:.0e}: check vocab_size={self.vocab_size}, d_model="
                             f"{self.d_model}, n_layers={self.n_layers}, mlp_ratio={self.mlp_ratio}")

    @property
    def n_params_estimate(self) -> int:
        """An upper estimate of the weight count (embedding + head + per layer 4 d^2 attention and
        at most 3 d d_mlp MLP): cheap, for the size guard; build_model gives the exact count."""
        return 2 * self.vocab_size * self.d_model + self.n_layers * (4 * self.d_model + 3 * self.d_mlp) * self.d_model

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def d_mlp(self) -> int:
        return self.mlp_ratio * self.d_model

    @property
    def constraint(self) -> str:
        """The weight constraint in force: the explicit one, else the arch's own."""
        if self.weight_constraint is not None:
            return self.weight_constraint
        return {"gpt": "none", "ngpt": "unit", "angpt": "bound"}[self.arch]

    def replace(self, **changes) -> "ModelConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


# One preset per system in the papers. Each is a set of overrides on ModelConfig's defaults.
NGPT_QK = dict(qk_norm_gain="shared", qk_norm_position="after_rope")  # nGPT's code: one s_qk, after RoPE
PRESETS: dict[str, dict] = {
    "gpt": dict(arch="gpt", norm="rmsnorm", placement="pre", qk_norm=False),
    "gpt+": dict(arch="gpt", norm="rmsnorm", placement="pre", qk_norm=True),
    "ngpt": dict(arch="ngpt", qk_norm=True, **NGPT_QK),
    # anGPT: s_z starts at 10, not nGPT's 1, else the first Adam steps blow up (tests/test_early_steps.py)
    "angpt": dict(arch="angpt", qk_norm=True, **NGPT_QK, logit_scale_init=10.0),
    # Post-LN and Mix-LN with RMSNorm, as in the official Mix-LN and LN-Scaling code (Llama
    # RMSNorm), so that against the Pre-LN baseline only the placement differs; the original
    # Post-LN's LayerNorm is one switch away: preset("post-ln", norm="layernorm").
    "post-ln": dict(arch="gpt", norm="rmsnorm", placement="post"),
    "peri-ln": dict(arch="gpt", norm="rmsnorm", placement="peri"),
    "mix-ln": dict(arch="gpt", norm="rmsnorm", placement="mix", mix_fraction=0.25),
    "ln-scaling": dict(arch="gpt", norm="rmsnorm", placement="pre", depth_scaling=True),
    # DyT: the LLM recipe's alpha_0 per position, attention : MLP : final = 4 : 1 : 1 (see
    # ModelConfig). The published values (7B: 0.8/0.2/0.2) are for width >= 4096 and narrower
    # models need larger alpha_0; the scale 16/4/4 is our choice from a sweep at chapter 10's
    # quick size (d_m = 32; 0.8/0.2/0.2 and 0.5 everywhere are far worse there, and larger
    # scales no better). Not tuned at the full size.
    "dyt": dict(arch="gpt", norm="dyt", placement="pre", dyt_alpha_attn=16.0, dyt_alpha_mlp=4.0,
                dyt_alpha_final=4.0),
    "tapernorm": dict(arch="gpt", norm="taper", placement="pre"),  # Internal-Taper (angpt.taper)
}


def preset(name: str, **overrides) -> ModelConfig:
    """The ModelConfig of a named system, with any field overridden.

    >>> preset("angpt", d_model=128, n_layers=2, n_heads=2).arch
    'angpt'
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid choices: {', '.join(map(repr, PRESETS))}")
    valid = {f.name for f in fields(ModelConfig)}
    bad = sorted(set(overrides) - valid)
    if bad:
        raise ValueError(f"unknown ModelConfig field(s) {bad}; valid fields: {sorted(valid)}")
    return ModelConfig(**{**PRESETS[name], **overrides})


@dataclass(frozen=True)
class TrainConfig:
    """One training run. `TrainConfig.for_arch(arch, ...)` gives each paper's recipe.

    The GPT family trains with AdamW, weight decay and a linear warm-up; nGPT and anGPT
    with Adam, no weight decay and no warm-up (their weights live on/in the unit ball).
    All use a cosine schedule from lr down to lr * min_lr_ratio.
    """

    steps: int = 200
    batch_size: int = 16
    lr: float = 1e-3
    min_lr_ratio: float = 0.0
    warmup_steps: int = 0
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0  # 0 disables clipping
    eval_every: int = 50  # 0: evaluate only at the end
    eval_tokens: int = 16384  # fixed validation budget, identical for every run
    seed: int = 0
    device: str = "auto"  # 'auto' (cuda if present), 'cpu', 'cuda'
    compile: bool = False
    track_every: int = 0  # record per-layer norms every k steps (0: off)
    ckpt_path: str | None = None
    ckpt_every: int = 0
    # Divergence without NaN: stop (DivergenceError) once the validation loss is more than this
    # many nats above the untrained model's (step 0, ~ln 256 = 5.5). Learning never does that;
    # a blown-up lr does (anGPT at lr=1e3 climbs to 1e9). None: never stop for that.
    max_val_loss_rise: float | None = 2.0
    # TaperNorm (angpt.taper; used only by models with norm='taper'). The paper states its EMA
    # rates and scale-loss weight, but we could not find the values: these are our choices, each a knob.
    gate_warmup: float | None = 0.25  # fraction of steps at g = 1 (calibration); None: the LR warm-up (paper)
    gate_taper: float = 0.4  # fraction of steps of the cosine from g = 1 to g = 0
    taper_ema: float = 0.99  # EMA decay of the calibration and of the scale anchor's target
    aux_weight: float = 0.0  # lambda of the fixed-target scale loss on the pre-logit stream; 0: off

    def __post_init__(self):
        for name in ("steps", "batch_size", "eval_tokens"):
            _positive(name, getattr(self, name))
        for name in ("warmup_steps", "eval_every", "track_every", "ckpt_every", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.seed >= 2**63:  # torch and the sampler take a signed 64-bit seed
            raise ValueError(f"seed must be a non-negative integer below 2**63, got {self.seed!r}")
        _positive("lr", self.lr, integer=False)
        _positive("eps", self.eps, integer=False)
        for name in ("min_lr_ratio", "weight_decay", "grad_clip", "beta1", "beta2"):
            _number(name, getattr(self, name))
        _flag("compile", self.compile)
        if self.ckpt_path is not None:
            if not isinstance(self.ckpt_path, (str, os.PathLike)) or not os.fspath(self.ckpt_path):
                raise ValueError(f"ckpt_path must be None or a file path (str or os.PathLike), got {self.ckpt_path!r}")
            object.__setattr__(self, "ckpt_path", os.fspath(self.ckpt_path))  # a str keeps to_dict JSON-ready
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio!r}")
        if not (self.weight_decay >= 0.0 and math.isfinite(self.weight_decay)):
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not (self.grad_clip >= 0.0 and math.isfinite(self.grad_clip)):
            raise ValueError(f"grad_clip must be >= 0 (0 disables), got {self.grad_clip!r}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)!r}")
        if self.warmup_steps >= self.steps and self.warmup_steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be smaller than steps={self.steps}")
        _choice("device", self.device, ("auto", "cpu", "cuda"))
        if self.max_val_loss_rise is not None and not (
                isinstance(self.max_val_loss_rise, (int, float)) and not isinstance(self.max_val_loss_rise, bool)
                and self.max_val_loss_rise >= 0 and math.isfinite(self.max_val_loss_rise)):
            raise ValueError(f"max_val_loss_rise must be None (never stop) or a finite number of nats >= 0, "
                             f"got {self.max_val_loss_rise!r}")
        if self.gate_warmup is not None and not (isinstance(self.gate_warmup, (int, float))
                                                 and 0.0 <= self.gate_warmup < 1.0):
            raise ValueError(f"gate_warmup must be None (the LR warm-up) or a fraction in [0, 1), got {self.gate_warmup!r}")
        if not (isinstance(self.gate_taper, (int, float)) and 0.0 <= self.gate_taper <= 1.0):
            raise ValueError(f"gate_taper must be a fraction in [0, 1], got {self.gate_taper!r}")
        if self.gate_warmup is not None and self.gate_warmup + self.gate_taper > 1.0:
            raise ValueError(f"gate_warmup + gate_taper = {self.gate_warmup + self.gate_taper:g} must be <= 1 "
                             f"(the taper has to end within the run)")
        if not (isinstance(self.taper_ema, (int, float)) and 0.0 <= self.taper_ema < 1.0):
            raise ValueError(f"taper_ema must lie in [0, 1), got {self.taper_ema!r}")
        if not (isinstance(self.aux_weight, (int, float)) and self.aux_weight >= 0.0 and math.isfinite(self.aux_weight)):
            raise ValueError(f"aux_weight must be a finite number >= 0 (0 disables), got {self.aux_weight!r}")

    @classmethod
    def for_arch(cls, arch: str, **overrides) -> "TrainConfig":
        """The optimizer recipe of each paper, scaled to `steps`: the nGPT paper's settings where it
        gives them (Loshchilov et al. 2024), the rest chosen here (the book's page on choices,
        book/choices.md)."""
        _choice("arch", arch, ARCHS)
        steps = overrides.get("steps", cls.steps)
        _positive("steps", steps)  # before the recipe compares it
        if arch == "gpt":
            # AdamW, wd 0.1, linear warm-up (nGPT paper: 2000 of 200k steps; we keep ~5 %)
            recipe = dict(weight_decay=0.1, warmup_steps=max(1, steps // 20) if steps > 1 else 0, lr=1e-3)
        else:
            # Adam without weight decay or warm-up; the unit ball takes a larger lr
            recipe = dict(weight_decay=0.0, warmup_steps=0, lr=2e-3)
        valid = {f.name for f in fields(cls)}
        bad = sorted(set(overrides) - valid)
        if bad:
            raise ValueError(f"unknown TrainConfig field(s) {bad}; valid fields: {sorted(valid)}")
        return cls(**{**recipe, **overrides})

    @classmethod
    def for_preset(cls, name: str, **overrides) -> "TrainConfig":
        """The recipe each preset's paper trains with: `for_arch` plus what the scheme needs.

            gpt, gpt+, peri-ln, dyt   for_arch('gpt'): AdamW, wd 0.1, 5 % linear warm-up, clip 1
            post-ln, mix-ln           warm-up 10 % of the steps: Post-LN needs it (Xiong et al.
                                      2020); the Mix-LN/LN-Scaling scripts use 2k of 20k steps
            ln-scaling                warm-up 10 % (its script); its plain init is in the model
                                      (angpt.model: no 1/sqrt(2L) on output projections)
            tapernorm                 for_arch('gpt') + the gate schedule fields (defaults: g = 1
                                      for the first 25 % of the steps, cosine to 0 over the next
                                      40 %; the paper's rule, gate warm-up = LR warm-up, is
                                      gate_warmup=None: too short in runs of a few hundred steps,
                                      chapter 10)
            ngpt, angpt               for_arch: Adam, no weight decay, no warm-up

        Choice: the optimizer (AdamW, wd 0.1, clipping) stays the GPT family's for every
        scheme (the LN-Scaling script uses no weight decay and no clipping), so that a
        comparison on the same data compares the schemes, not optimizers. DyT's alpha_0 per
        position lives in ModelConfig (dyt_alpha_attn, dyt_alpha_mlp, dyt_alpha_final).
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; valid choices: {', '.join(map(repr, PRESETS))}")
        steps = overrides.get("steps", cls.steps)
        _positive("steps", steps)
        recipe = {}
        if name in ("post-ln", "mix-ln", "ln-scaling") and steps > 1:
            recipe["warmup_steps"] = max(1, steps // 10)
        return cls.for_arch(PRESETS[name]["arch"], **{**recipe, **overrides})

    def replace(self, **changes) -> "TrainConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


BUDGETS = ("quick", "full")


def budget() -> str:
    """'quick' or 'full': the size chapters run at.

    ANGPT_QUICK=1 forces quick (CI, CPU readers), ANGPT_QUICK=0 forces full; unset, a
    machine with a CUDA device runs full size and any other quick.
    """
    flag = os.environ.get("ANGPT_QUICK", "").strip()
    if flag not in ("", "0", "1"):
        raise ValueError(f"ANGPT_QUICK must be '0', '1' or unset, got {flag!r}")
    if flag:
        return "quick" if flag == "1" else "full"
    import torch

    return "full" if torch.cuda.is_available() else "quick"


__all__ = [
    "ARCHS", "NORMS", "PLACEMENTS", "WEIGHT_CONSTRAINTS", "ATTN_FACTORS", "QK_NORM_GAINS", "QK_NORM_POSITIONS",
    "BUDGETS", "ModelConfig", "TrainConfig", "PRESETS", "preset", "budget", "MAX_PARAMS",
]
