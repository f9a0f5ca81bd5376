"""angpt: approximately normalized transformers, explained and measured.

The public names (`_EXPORTS` below; the book's API page, book/api.md) are resolved lazily, so `import angpt` is cheap and a
chapter pays only for what it uses.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "ModelConfig": "config", "TrainConfig": "config", "PRESETS": "config",
    "preset": "config", "budget": "config",
    "build_model": "model", "Transformer": "model",
    "constrain_": "constraints",
    "fold": "fold",
    "norm_profile": "norms", "NormRecorder": "norms",
    "train": "train", "RunRecord": "train", "DivergenceError": "train",
    "load_corpus": "data",
    "colab_install_cell": "colab",
}
_SUBMODULES = (
    "config", "concentration", "factors", "sampling", "factor_checks", "layers", "blocks", "model", "constraints", "fold",
    "norms", "tracking", "data", "train", "decode", "taper", "schemes", "experiments", "particles", "bench", "opcount",
    "normlab_figure", "distributed", "cli_train",
    "figures", "viz", "widgets", "colab",
)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"angpt.{_EXPORTS[name]}"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"angpt.{name}")
    raise AttributeError(f"module 'angpt' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS, *_SUBMODULES])


__all__ = ["__version__", *_EXPORTS]
