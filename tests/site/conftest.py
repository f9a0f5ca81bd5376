"""Serve the built site on 127.0.0.1 and drive Debian's chromium through pytest-playwright.

Every request to another address is aborted and recorded, so the tests prove which outside
hosts a page depends on (plotly must be none of them)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("SITE_DIR", ROOT / "_build" / "html"))


def chromium_path() -> str | None:
    for cand in (os.environ.get("CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                 "/usr/bin/chromium"):
        if cand and Path(cand).is_file():
            return cand
    return None


def pytest_collection_modifyitems(config, items):
    reason = None
    if chromium_path() is None:
        reason = "no chromium found (apt-get install chromium, or set CHROMIUM=/path/to/chromium)"
    elif not (SITE / "index.html").is_file():
        reason = f"no built site at {SITE} (run `make book` first)"
    if reason:
        for item in items:  # only the tests that need the browser or the built site
            needs = {"page", "site_url"} & set(getattr(item, "fixturenames", ())) or "build" in item.name
            if "site" in str(item.fspath) and needs:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": chromium_path(),
            "args": [*browser_type_launch_args.get("args", []), "--no-sandbox"]}


@pytest.fixture(scope="session")
def site_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(SITE)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(50):  # wait until it answers (at most 5 s)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=5)
