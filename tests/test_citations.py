"""The code and the book cite only what a reader has: papers (book/references.md), the book's own
pages, and files of this repository. This test finds mentions of files that are not in the
project: the authors' private notes (by name, wherever they appear) and any Markdown, Python or
JSON path that does not exist here. It names each as file:line.

What counts as a mention of a missing file:
* a private-notes name anywhere (text, comments, strings): see NOTES;
* `NAME.md` (any path or bare name) that is no file of the repository;
* `NAME.py` as a bare name that is no file of the repository (other projects' files are listed
  in OTHER_PROJECTS with where they live), or as a path into a folder of the repository;
* `NAME.json` as a path into a folder of the repository (bare JSON names are the output files
  that commands write, `--out run.json`), except the result files that `python -m angpt run`
  writes into book/results/ (angpt.experiments.results.FILES): chapters read them through the
  loader, which says when one is missing.
Lines that build a test's scratch files (`tmp_path`) are output paths, not mentions. URLs are
skipped. Placeholders (`book/NN_name.md`, `book/NAME.md`, `race_lr*.json`, `runs/{name}.json`) must match a
file. The book's configuration files (exclude patterns, TOC) are checked for the notes only.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from angpt.experiments.results import FILES as RESULT_FILES

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("angpt", "book", "tools", "tests")
SCANNED_FILES = ("README.md",)
CONFIG_FILES = ("_config.yml", "_toc.yml")  # name build patterns, not citations: notes check only
SUFFIXES = (".py", ".md", ".ipynb", ".yml")
SKIP_DIRS = {".git", ".venv", "_build", "__pycache__", ".ipynb_checkpoints", ".pytest_cache", "node_modules"}
SKIP_TOP = {"data", "runs"}  # git-ignored outputs (corpora, training runs)

# The authors' notes outside the repository: never cited, in any form (assembled so that this
# file does not match itself).
NOTES = re.compile("|".join([
    r"\b(?:methods|DESIGN|schemes|data|style|book-tooling)\.md\b",
    r"\breviews/", r"\bshared/", r"/work/",
]))
# Files of other projects that code or prose names on purpose, and where they live.
OTHER_PROJECTS = {
    "prepare.py": "nanoGPT's data script (the token-file format the CLI reads)",
    "plain_text_readers_bible.py": "inside the pythonbible wheels tools/make_corpus.py reads",
}
TOKEN = re.compile(r"(?<![\w./{}*-])[\w{}*][\w./{}*-]*\.(?:md|py|json)\b")
URL = re.compile(r"\w+://\S+")


def _repo_files() -> list[str]:
    out = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if path.is_file() and not (set(rel.parts[:-1]) & SKIP_DIRS) and rel.parts[0] not in SKIP_TOP:
            out.append(rel.as_posix())
    return out


FILES = _repo_files()
FILE_SET = set(FILES)
DIRS = {p.rsplit("/", 1)[0] for p in FILES if "/" in p} | {""}
BASENAMES = {p.rsplit("/", 1)[-1] for p in FILES}
TOP_DIRS = {p.split("/", 1)[0] for p in FILES if "/" in p}


def _scanned() -> list[str]:
    return sorted(p for p in FILES
                  if (p.split("/", 1)[0] in SCANNED and p.endswith(SUFFIXES)) or p in SCANNED_FILES)


def _as_glob(token: str) -> str:
    token = re.sub(r"\{[^}]*\}", "*", token)  # runs/{name}.json
    return re.sub(r"\bNAME\b", "*", re.sub(r"\bNN_name\b", "[0-9][0-9]_*", token))  # book/NN_name.md


def _exists(token: str, here: str) -> bool:
    """token names a file of the repository: relative to the root or to the citing file's
    folder, or (a bare name) any file of that name; placeholders must match one."""
    base = here.rsplit("/", 1)[0] if "/" in here else ""
    pattern = _as_glob(token)
    candidates = [pattern, f"{base}/{pattern}" if base else pattern]
    if "/" not in token:
        return bool(fnmatch.filter(BASENAMES, pattern))
    return any(fnmatch.filter(FILES, c) for c in candidates)


def _is_result_output(token: str, here: str) -> bool:
    """book/results/NAME.json (or results/NAME.json from a page in book/) that an experiment writes."""
    name = token.rsplit("/", 1)[-1]
    folder = token[: -len(name)]
    in_results = folder == "book/results/" or (folder == "results/" and here.startswith("book/"))
    return in_results and name in RESULT_FILES.values()


def _into_repo(token: str, here: str) -> bool:
    """token is a path into a folder of this repository (not an output folder like runs/)."""
    first = token.split("/", 1)[0]
    base = here.rsplit("/", 1)[0] if "/" in here else ""
    return first in TOP_DIRS or (f"{base}/{first}" if base else first) in DIRS


def missing_mentions(rel: str, text: str) -> list[str]:
    """'file:line: token' for every mention in `text` (the file `rel`) of a file not in the project."""
    hits = []
    for n, line in enumerate(text.splitlines(), 1):
        if "tmp_path" in line:
            continue
        line = URL.sub(" ", line)
        for m in NOTES.finditer(line):
            hits.append(f"{rel}:{n}: {m.group(0)!r} (notes outside the project)")
        for m in TOKEN.finditer(line):
            token = m.group(0)
            if NOTES.search(token) or "google.colab" in token:
                continue
            if token.endswith(".md"):
                bad = not _exists(token, rel)
            elif token.endswith(".py"):
                bare = "/" not in token
                name = token.rsplit("/", 1)[-1]
                if bare or not _into_repo(token, rel):
                    bad = not _exists(name, rel) and name not in OTHER_PROJECTS
                else:
                    bad = not _exists(token, rel)
            else:  # .json
                bad = ("/" in token and _into_repo(token, rel) and not _exists(token, rel)
                       and not _is_result_output(token, rel))
            if bad:
                hits.append(f"{rel}:{n}: {token!r} (no such file in the project)")
    return hits


def test_scanner_finds_what_it_must():
    """The scanner itself: each kind of missing mention is found, and what exists passes."""
    notes = "see " + "methods" + ".md §4.9 and " + "rev" + "iews/x.md"
    assert len(missing_mentions("angpt/x.py", notes)) == 2
    assert missing_mentions("angpt/x.py", "# as in foo_notes.md") != []
    assert missing_mentions("book/x.md", "[bib](references.md#ngpt) and tools/make_corpus.py") == []
    assert missing_mentions("book/x.md", "see tools/no_such_tool.py") != []
    assert missing_mentions("book/x.md", "`results/race.json` and `results/norm_lab.json`") == []
    assert missing_mentions("book/x.md", "`results/nope.json`") != []
    assert missing_mentions("README.md", "book/NN_name.md, https://x.org/a/notes.md") == []
    assert missing_mentions("tests/test_x.py", "out = tmp_path / 'run9.json'") == []


def test_no_file_cites_a_file_outside_the_project():
    hits = []
    for rel in _scanned():
        if rel == "tests/test_citations.py":
            continue  # its own examples above are meant to be found
        hits += missing_mentions(rel, (ROOT / rel).read_text(encoding="utf-8"))
    for rel in CONFIG_FILES:
        text = (ROOT / rel).read_text(encoding="utf-8")
        hits += [f"{rel}:{n}: {m.group(0)!r} (notes outside the project)"
                 for n, line in enumerate(text.splitlines(), 1) for m in NOTES.finditer(line)]
    assert not hits, ("mentions of files that are not in the project (cite the paper from "
                      "book/references.md or the book's own page instead):\n" + "\n".join(hits))
