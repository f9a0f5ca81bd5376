"""The first cell of every chapter on Colab, derived from the book's one configuration file.

The repository URL and the ref to install from live in `_config.yml` (`repository: url:` and
`repository: branch:`) and nowhere else; for a release the branch is set to the release tag (or a
commit), so the install is pinned to the code the site was built from. Chapters carry the text
`colab_install_cell()` returns; a test checks that every chapter's first code cell starts with it.

    >>> print(colab_install_cell())      # doctest: +SKIP
    import sys
    if "google.colab" in sys.modules:  # Colab: the book's repository at the pinned ref, installed editable
        !git clone -q --depth 1 --branch v0.1.0 https://github.com/angpt-book/angpt /content/angpt
        %pip install -q -e "/content/angpt[book]"
        sys.path.insert(0, "/content/angpt")

Why a clone and not `pip install git+...`: the chapters read the stored full-size results from
`book/results/` beside the package (`angpt.experiments.results_dir`), which only a checkout
has; the editable install keeps Colab's own torch. `sys.path` takes the package at once (an
editable install is seen by new processes only).
"""

from __future__ import annotations

import re
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / "_config.yml"


def repository(config: str | Path | None = None) -> dict[str, str]:
    """{'url': ..., 'branch': ...} from the `repository:` block of a Jupyter Book _config.yml
    (default: this checkout's, `CONFIG`).

    A small reader for that one block (two-space indented `key: value` lines), so the library
    needs no YAML package."""
    path = Path(CONFIG if config is None else config)
    if not path.is_file():
        raise ValueError(f"no Jupyter Book configuration at {str(path)!r} (it ships with the repository, "
                         f"not with an installed package)")
    block, out = False, {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.match(r"^repository:\s*(#.*)?$", line):
            block = True
            continue
        if block:
            m = re.match(r"^\s+(\w+):\s*(.*?)\s*(#.*)?$", line)
            if not m:
                if line.strip() and not line.startswith((" ", "\t")):
                    break  # the next top-level key
                continue
            out[m.group(1)] = m.group(2).strip("\"'")
    missing = [k for k in ("url", "branch") if not out.get(k)]
    if missing:
        raise ValueError(f"{str(path)!r}: the repository block lacks {missing} (needed for the Colab install)")
    return out


def colab_install_cell(config: str | Path | None = None) -> str:
    """The guarded install that opens every chapter's first code cell (a no-op outside Colab);
    `config` as for `repository`."""
    repo = repository(config)
    url, ref = repo["url"].rstrip("/"), repo["branch"]
    return ("import sys\n"
            'if "google.colab" in sys.modules:  # Colab: the book\'s repository at the pinned ref, installed editable\n'
            f"    !git clone -q --depth 1 --branch {ref} {url} /content/angpt\n"
            '    %pip install -q -e "/content/angpt[book]"\n'
            '    sys.path.insert(0, "/content/angpt")')


__all__ = ["repository", "colab_install_cell"]
