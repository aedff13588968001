"""Progress bars (gazekit.progress): counts on stderr, off when not wanted, and the dataset readers report
their records to them."""

from __future__ import annotations

import pytest

from gazekit import progress


def test_track_yields_every_item_with_and_without_bars(monkeypatch, capsys):
    items = [3, 1, 4, 1, 5]
    monkeypatch.setenv("GAZEKIT_PROGRESS", "0")
    assert list(progress.track(items, "x")) == items
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("GAZEKIT_PROGRESS", "1")
    assert list(progress.track(iter(items), "x", total=5)) == items


def test_bar_shows_counts_on_stderr_not_stdout(monkeypatch, capsys):
    monkeypatch.setenv("GAZEKIT_PROGRESS", "1")
    with progress.new_progress(transient=False) as bar:
        task = bar.add_task("parsing records", total=7)
        bar.advance(task, 7)
    out = capsys.readouterr()
    assert out.out == ""
    assert "parsing records" in out.err and "7/7" in out.err


@pytest.mark.parametrize("flag, expected", [("0", False), ("off", False), ("1", True), ("yes", True)])
def test_environment_switch(monkeypatch, flag, expected):
    monkeypatch.setenv("GAZEKIT_PROGRESS", flag)
    assert progress.bars_enabled() is expected


def test_not_a_terminal_means_no_bar(monkeypatch):
    monkeypatch.delenv("GAZEKIT_PROGRESS", raising=False)
    assert progress.bars_enabled() is False  # pytest captures stderr: not a terminal


def test_osie_reader_reports_every_image_record(monkeypatch):
    """The OSIE sample (shipped, 3 images) is parsed under a bar of 3 steps that all complete."""
    from gazekit.datasets import osie

    seen = []

    def spy(items, description, total=None):
        seen.append([description, len(items) if total is None else total, 0])
        for item in items:
            seen[-1][2] += 1
            yield item

    monkeypatch.setattr(osie, "track", spy)
    data = osie.load_sample(cache=False)
    assert len(seen) == 1 and seen[0][0].startswith("parsing ")
    assert seen[0][1] == seen[0][2] == len(set(data.scanpaths.image))
