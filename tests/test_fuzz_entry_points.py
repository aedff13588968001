"""Fuzz the entry points issue 15 added or changed (the commands' data options, minimal tables with images,
image reading for predict, the events format guess, pymovements frames): whatever the input, a command returns
an exit status (0, 1 or 2) and Python raises only gazekit's documented errors; no traceback escapes."""

from __future__ import annotations

import io
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gazekit.cli import main
from gazekit.errors import GazekitError
from gazekit.paths import SAMPLE_DIR
from tests.datasets.test_fuzz_parsers import FUZZ, mutated

STIMULI = SAMPLE_DIR / "osie" / "stimuli"
MINIMAL = (b"image,subject,x,y,duration_ms\n1001,1,395.5,265.7,246\n1001,1,390.6,326.4,136\n"
           b"1002,2,100,200,300\n1002,2,700,500,120\n")
OPTION_TEXT = st.sampled_from(["x=x,y=y", "image=image", '{"x": "x"}', "x=", "=y", "{", "[1]", "x=nope", "",
                               ",,", "duration=duration_ms", '{"x": 1}'])


def _run(argv) -> int:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(argv)
    assert "Traceback" not in err.getvalue()
    return rc


@FUZZ
@given(payload=mutated(MINIMAL), policy=st.sampled_from(["error", "drop", "clip"]), columns=OPTION_TEXT,
       size=st.sampled_from([None, "800,600", "0,5", "a,b", "10x10", "1e309,1"]), with_images=st.booleans())
def test_data_info_on_mutated_minimal_tables(payload, policy, columns, size, with_images):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mine.csv"
        path.write_bytes(payload)
        argv = ["data", "info", str(path), "--on-invalid", policy, "--no-cache", "--json"]
        argv += ["--columns", columns] if columns else []
        argv += ["--image-size", size] if size else []
        argv += ["--images", str(STIMULI)] if with_images else []
        assert _run(argv) in (0, 2)


@FUZZ
@given(payload=mutated(MINIMAL), policy=st.sampled_from(["error", "drop", "clip"]))
def test_score_on_mutated_prediction_tables(payload, policy):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pred.csv"
        path.write_bytes(payload)
        assert _run(["score", "--pred", str(path), "--human", "osie-sample", "--metrics", "edit_distance",
                     "--on-invalid", policy, "--images", str(STIMULI)]) in (0, 1, 2)


@pytest.mark.parametrize("name", ["1001.jpg"])
def test_read_image_on_mutated_files(name):
    from gazekit.images import read_image

    seed = (STIMULI / name).read_bytes()[:6000]  # the header and the first scans

    @FUZZ
    @given(payload=mutated(seed), side=st.sampled_from([None, 64, 1]))
    def run(payload, side):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(payload)
            try:
                read_image(path, max_side=side)
            except GazekitError:
                pass

    run()


@FUZZ
@given(first=st.text(max_size=60), suffix=st.sampled_from([".tsv", ".csv", ".txt", ".asc", ".mat", "_events.tsv"]))
def test_events_on_arbitrary_files(first, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"rec{suffix}"
        path.write_text(first + "\n1\t2\t3\n", encoding="utf-8", errors="replace")
        assert _run(["events", "info", str(path)]) in (0, 2)


@FUZZ
@given(names=st.lists(st.sampled_from(["fixation", "saccade", "blink", ""]), min_size=1, max_size=6),
       xs=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=6, max_size=6))
def test_from_pymovements_on_random_frames(names, xs):
    pl = pytest.importorskip("polars")
    from gazekit import Scanpaths

    n = len(names)
    frame = pl.DataFrame({"name": names, "onset": list(range(n)), "duration": [1.0] * n,
                          "location_x": xs[:n], "location_y": xs[:n]})
    try:
        Scanpaths.from_pymovements(frame)
    except GazekitError:
        pass
