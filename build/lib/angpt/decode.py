"""Autoregressive decoding for every model of the library: a KV cache and sampling.

    cache = KVCache(model)
    logits = forward_cached(model, prompt, cache)      # prefill: (B, T, V), fills the cache
    logits = forward_cached(model, next_tok, cache)    # decode: (B, 1, V), attends to the cache
    out = generate(model, prompt, 50, temperature=0.8, generator=torch.Generator().manual_seed(0))

Why it works for every arch without touching the blocks: attention is the only part of a
block that mixes positions; embedding, norms, LERPs, MLPs and the head act on each token
alone. So a cached forward pass is the ordinary `model(idx)` on the *new* tokens only, with
each attention sublayer swapped (for the duration of the call) for `cached_attention`,
which applies RoPE at the absolute positions, appends k and v to the cache, and attends over
everything cached so far. GPT, GPT+, nGPT, anGPT and the folded anGPT share this path, so
timings compare the models, not the decoding code.

Positions are absolute and RoPE's tables hold cfg.seq_len of them: a cache holds at most
seq_len tokens. `generate` uses the cache while the text fits; beyond seq_len it falls back
to recomputing the last seq_len tokens each step (nanoGPT's sliding window), and says so in
its docstring rather than silently shifting positions inside a cache.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from .layers import CausalSelfAttention


class KVCache:
    """Keys and values of every attention layer for the tokens seen so far.

    k[i], v[i]: (B, n_h, T_past, d_h) for layer i, as `CausalSelfAttention.rope_qk` returns
    them (after RoPE and QK-norm: what the scores use), or None before the first call. `pos` is the number of cached positions.
    `snapshot()` / `restore()` let a benchmark time one decoding step repeatedly from the
    same state (cheap: tensors are never modified in place, only replaced).
    """

    def __init__(self, model: torch.nn.Module):
        self.attns = _attentions(model)
        self.max_len = model.cfg.seq_len
        self.k: list[torch.Tensor | None] = [None] * len(self.attns)
        self.v: list[torch.Tensor | None] = [None] * len(self.attns)

    @property
    def pos(self) -> int:
        return 0 if self.k[0] is None else self.k[0].shape[-2]

    def snapshot(self) -> tuple[list, list]:
        return list(self.k), list(self.v)

    def restore(self, state: tuple[list, list]) -> None:
        self.k, self.v = list(state[0]), list(state[1])

    def __repr__(self) -> str:
        return f"KVCache(layers={len(self.attns)}, pos={self.pos}, max_len={self.max_len})"


def _attentions(model) -> list[CausalSelfAttention]:
    attns = [m for m in model.modules() if isinstance(m, CausalSelfAttention)]
    if not attns or not hasattr(model, "cfg"):
        raise ValueError(f"expected an angpt Transformer with attention layers, got {type(model).__name__}")
    return attns


def cached_attention(attn: CausalSelfAttention, h: torch.Tensor, cache: KVCache, layer: int) -> torch.Tensor:
    """CausalSelfAttention.forward for new tokens h (B, T_new, d_m) after cache.pos cached ones.

    Same maths as the module's forward (factors, RoPE, QK-norm, softmax scale, attn_factor);
    new tokens at absolute positions p0 .. p0 + T_new - 1 attend to every position <= their own.
    """
    B, T, d_m = h.shape
    p0 = 0 if cache.k[layer] is None else cache.k[layer].shape[-2]
    q, k, v = attn.heads(attn.qkv(h))  # (B, n_h, T, d_h) each
    q, k = attn.rope_qk(q, k, start=p0)  # RoPE at positions p0.. and QK-norm, in the module's order
    if p0:
        k = torch.cat((cache.k[layer], k), dim=-2)  # (B, n_h, p0 + T, d_h)
        v = torch.cat((cache.v[layer], v), dim=-2)
    cache.k[layer], cache.v[layer] = k, v
    S = p0 + T
    pos = torch.arange(p0, S, device=h.device)  # absolute positions of the queries
    if attn.attn_factor == "exact":
        scores = (q @ k.transpose(-2, -1)) * attn.score_scale  # (B, n_h, T, S)
        mask = torch.arange(S, device=h.device)[None, :] <= pos[:, None]  # (T, S)
        a = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        o = (a @ v) * a.pow(2).sum(-1, keepdim=True).rsqrt()
    else:
        if p0 == 0:  # prefill: the ordinary causal mask
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=attn.score_scale)
        elif T == 1:  # one new token sees everything cached: no mask
            o = F.scaled_dot_product_attention(q, k, v, scale=attn.score_scale)
        else:  # a chunk after a cache: causal mask aligned bottom-right
            mask = torch.arange(S, device=h.device)[None, :] <= pos[:, None]  # (T, S)
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=attn.score_scale)
        if attn.attn_factor == "sqrt_t":
            o = o * (pos + 1).to(o.dtype).sqrt()[:, None]
        elif attn.attn_factor != "none":
            raise ValueError(f"unknown attn_factor {attn.attn_factor!r}; valid choices: 'none', 'sqrt_t', 'exact'")
    return attn.output(o)  # concat heads, project, the module's output factor


@contextmanager
def _use_cache(cache: KVCache):
    """Swap every attention layer's forward for the cached one while the block runs."""
    for i, attn in enumerate(cache.attns):
        attn.forward = (lambda h, attn=attn, i=i: cached_attention(attn, h, cache, i))
    try:
        yield
    finally:
        for attn in cache.attns:
            del attn.forward  # back to the class's own forward


def forward_cached(model: torch.nn.Module, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """Logits (B, T_new, V) of the new tokens idx (B, T_new), given the tokens in `cache`.

    Equal to model(full sequence)[:, -T_new:] (tested). Raises ValueError when the cache
    would hold more than seq_len tokens, or when it belongs to another model.
    """
    if not isinstance(cache, KVCache):
        raise ValueError(f"cache must be an angpt.decode.KVCache, got {type(cache).__name__}")
    if cache.attns != _attentions(model):
        raise ValueError("this KVCache was made for another model")
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2:
        raise ValueError(f"idx must be a (batch, seq) tensor of token ids, got {getattr(idx, 'shape', idx)!r}")
    if cache.pos + idx.shape[1] > cache.max_len:
        raise ValueError(f"the cache holds {cache.pos} tokens; {idx.shape[1]} more exceed seq_len={cache.max_len}")
    if cache.pos and cache.k[0].shape[0] != idx.shape[0]:
        raise ValueError(f"batch size {idx.shape[0]} differs from the cache's {cache.k[0].shape[0]}")
    with _use_cache(cache):
        return model(idx)


def _sample(logits: torch.Tensor, temperature: float, top_k: int | None, generator) -> torch.Tensor:
    """Next tokens (B, 1) from last-position logits (B, V)."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator)


@torch.no_grad()
def generate(model: torch.nn.Module, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, generator: torch.Generator | None = None,
             use_cache: bool = True) -> torch.Tensor:
    """Append `max_new_tokens` sampled tokens to idx (B, T); returns (B, T + max_new_tokens).

    temperature 0 is greedy (argmax); top_k keeps the k most likely tokens. `generator`
    (on the model's device) makes sampling reproducible: the same generator seed gives the
    same text for models with the same logits, e.g. an anGPT and its fold. With use_cache
    the prompt is prefilled once and each new token costs one single-token pass; once the
    text would exceed seq_len, each step recomputes the last seq_len tokens instead.
    """
    if not isinstance(max_new_tokens, int) or isinstance(max_new_tokens, bool) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be a finite number >= 0 (0: greedy), got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise ValueError(f"top_k must be None or a positive integer, got {top_k!r}")
    idx = model.check_input(idx)
    was_training = model.training
    model.eval()
    L = model.cfg.seq_len
    cache = KVCache(model) if use_cache else None
    try:
        logits = forward_cached(model, idx, cache) if use_cache else model(idx)
        for step in range(max_new_tokens):
            nxt = _sample(logits[:, -1, :], temperature, top_k, generator)  # (B, 1)
            idx = torch.cat((idx, nxt), dim=1)
            if step == max_new_tokens - 1:
                break  # the last token needs no logits
            if cache is not None and cache.pos < L:
                logits = forward_cached(model, nxt, cache)
            else:  # no cache, or the text outgrew seq_len: recompute the last window
                cache = None
                logits = model(idx[:, -L:])
    finally:
        model.train(was_training)
    return idx


__all__ = ["KVCache", "cached_attention", "forward_cached", "generate"]
