"""Figure helpers of angpt.figures (chapters 1-2): binned histograms, sliders, tables."""

from __future__ import annotations

import numpy as np
import pytest

from angpt import figures


def test_histogram_trace_is_a_density_of_the_samples():
    x = np.random.default_rng(0).standard_normal(5000)
    bins = np.linspace(-6, 6, 121)
    bar = figures.histogram_trace(x, bins)
    assert len(bar.x) == 120
    assert np.sum(np.asarray(bar.y) * np.asarray(bar.width)) == pytest.approx(1.0)
    # samples outside the range lower the mass instead of piling up at the edges
    half = figures.histogram_trace(np.r_[x, x + 100], bins)
    assert np.sum(np.asarray(half.y) * np.asarray(half.width)) == pytest.approx(0.5)


def test_histogram_slider_has_one_state_per_value():
    samples = {d: np.random.default_rng(d).standard_normal(100) for d in (1, 2, 3)}
    fig = figures.histogram_slider([1, 2, 3], samples.__getitem__, np.linspace(-4, 4, 41), label="d",
                                   density=lambda d, x: np.exp(-x * x / 2) / np.sqrt(2 * np.pi), active=1)
    assert len(fig.data) == 6 and len(fig.layout.sliders[0].steps) == 3
    assert [tr.visible for tr in fig.data] == [False, False, True, True, False, False]


def test_tail_traces_hide_zero_probabilities_on_a_log_axis():
    tr = figures.tail_traces([0, 1, 2], [1.0, 0.1, 0.0], [1.0, 0.5, 0.2], name="f", colour="#000000")
    assert list(tr[0].y) == [1.0, 0.1, None] and len(tr) == 2
    assert len(figures.tail_traces([0], [1.0], None, name="f", colour="#000000")) == 1


def test_table_renders_markdown_and_checks_row_lengths():
    md = figures.table(["a", "b"], [[1, 2], [3, 4]])
    assert md.data.splitlines()[0] == "| a | b |" and "| 3 | 4 |" in md.data
    with pytest.raises(ValueError, match="every row needs 2 cells"):
        figures.table(["a", "b"], [[1]])


@pytest.mark.parametrize("bins", [np.array([1.0]), np.array([0.0, 0.0, 1.0]), np.ones((2, 2))])
def test_bad_bins_raise(bins):
    with pytest.raises(ValueError, match="bins must be an increasing 1-D array"):
        figures.histogram_trace([0.5], bins)
