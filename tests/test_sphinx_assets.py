"""The site's icon trimming keeps every icon a page draws and drops the rest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from angpt import sphinx_assets as sa


def test_used_codepoints_keeps_used_icons_and_the_themes_own():
    css = ('.fa-moon:before{content:"\\f186"}.fa-ghost:before{content:"\\f6e2"}'
           '.fa-sun:before,.fa-ignored:before{content:"\\f185"}'
           '@media (min-width:1px){.toc:after{content:"\\f107";font-family:Font Awesome\\ 6 Free}}'
           '.fa-solid{font-weight:900}.plain:before{content:"x"}')
    assert sa.used_codepoints(css, {"moon", "sun"}) == {0xF186, 0xF185, 0xF107}
    assert sa.used_codepoints(css, set()) == {0xF107}


def _theme_font() -> Path:
    try:
        import pydata_sphinx_theme
    except ImportError:
        pytest.skip("pydata-sphinx-theme is not installed")
    fonts = list(Path(pydata_sphinx_theme.__file__).parent.rglob("fa-solid-900.woff2"))
    if not fonts:
        pytest.skip("the theme ships no fa-solid-900.woff2")
    return fonts[0]


def test_subset_webfont_keeps_exactly_the_codepoints(tmp_path):
    pytest.importorskip("brotli")
    from fontTools.ttLib import TTFont

    font = tmp_path / "fa-solid-900.woff2"
    shutil.copyfile(_theme_font(), font)
    before = font.stat().st_size
    keep = {0xF186, 0xF185, 0xF107}
    sa.subset_webfont(font, keep)
    cmap = set(TTFont(str(font)).getBestCmap())
    assert keep <= cmap and not (cmap - keep - {0x20})  # a space may stay
    assert font.stat().st_size < before / 20


@pytest.mark.parametrize("quick, configured, expected", [("1", 600, sa.QUICK_CELL_TIMEOUT), ("1", 30, 30),
                                                         ("0", 600, 600)])
def test_quick_builds_cap_the_cell_timeout(monkeypatch, quick, configured, expected):
    """A quick build caps a cell's time (a missed zmq wake-up then costs that, not 600 s);
    a full build keeps the configured timeout (its cells train at GPU size)."""
    from types import SimpleNamespace

    monkeypatch.setenv("ANGPT_QUICK", quick)
    config = SimpleNamespace(nb_execution_timeout=configured, mathjax_path=None)
    sa._config_inited(None, config)
    assert config.nb_execution_timeout == expected
    assert config.mathjax_path == f"{sa.MATHJAX_DIR}/{sa.MATHJAX_JS}"


def test_the_build_polls_kernel_replies_in_slices_of_at_most_a_second(monkeypatch):
    """A missed wake-up of one long poll cost the whole cell timeout (75 s) per miss; polled in
    slices it costs at most 1 s. The reply, and Empty at the timeout, are as before."""
    import asyncio
    from queue import Empty

    from jupyter_client.channels import AsyncZMQSocketChannel

    from angpt import sphinx_assets

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", AsyncZMQSocketChannel.get_msg)  # undone after
    sphinx_assets._poll_in_slices()

    class Socket:
        def __init__(self, ready_after):
            self.polls, self.ready_after = [], ready_after

        async def poll(self, ms):
            self.polls.append(ms)
            await asyncio.sleep(ms / 1000 / 50)  # a 50x faster clock: the test takes a fraction of a second
            return len(self.polls) > self.ready_after

    channel = AsyncZMQSocketChannel.__new__(AsyncZMQSocketChannel)
    channel.socket = Socket(ready_after=3)

    async def recv():
        return {"msg": "reply"}

    channel._recv = recv
    assert asyncio.run(channel.get_msg(timeout=75)) == {"msg": "reply"}
    assert channel.socket.polls == [1000] * 4
    channel.socket = Socket(ready_after=10**6)
    with pytest.raises(Empty):
        asyncio.run(channel.get_msg(timeout=0.3))
    assert 250 <= channel.socket.polls[0] <= 300 and channel.socket.polls[-1] == 0
