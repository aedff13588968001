"""EyeLink .asc reader: pymovements parity on the real files, hand-checked values, bad input, fuzzing."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from gazekit.datasets.raw import guess_format, read_raw
from gazekit.datasets.raw.eyelink import read_eyelink_asc
from gazekit.errors import DataFormatError, InvalidInputError
from gazekit.geometry import ScreenGeometry
from tests.conftest import require_data

ASC_FILES = ["eyelink_binocular_example.asc", "eyelink_monocular_2khz_example.asc", "eyelink_monocular_example.asc",
             "eyelink_monocular_no_dummy_example.asc", "raccoons.asc"]


def asc(name: str):
    return require_data("eyelink_asc", name)


def _pm():
    return pytest.importorskip("pymovements", reason="pymovements (test oracle, scripts/install.sh) not installed")


# ---------------------------------------------------------------------- hand-checked values
def test_binocular_first_samples_and_events_by_hand():
    rec = read_raw(asc("eyelink_binocular_example.asc"))
    assert rec.format == "eyelink_asc" and rec.eyes == ("left", "right") and rec.sampling_rate_hz == 1000.0
    # line 142: 1408660  964.3  541.5  288.0  960.5  538.8  305.0  .....
    assert rec.time_ms[0] == 1408660.0
    np.testing.assert_array_equal(rec.x[0], [964.3, 960.5])
    np.testing.assert_array_equal(rec.y[0], [541.5, 538.8])
    np.testing.assert_array_equal(rec.pupil[0], [288.0, 305.0])
    # line 283: 1408793 . . 0.0 . . 0.0 .C.C. -> both eyes missing
    k = int(np.flatnonzero(rec.time_ms == 1408793.0)[0])
    assert not rec.valid[k].any() and np.isnan(rec.x[k]).all()
    # EFIX L 1408667 1408773 107 961.2 540.5 284
    fix = rec.events[(rec.events["kind"] == "fixation") & (rec.events["eye"] == "left")].iloc[0]
    assert (fix.onset_ms, fix.offset_ms, fix.duration_ms, fix.x, fix.y, fix.pupil) == (
        1408667.0, 1408773.0, 107.0, 961.2, 540.5, 284.0)
    # ESACC R 1408778 1408898 121 957.9 551.4 943.8 526.0 0.66 196
    sac = rec.events[(rec.events["kind"] == "saccade") & (rec.events["eye"] == "right")].iloc[0]
    assert (sac.start_x, sac.end_y, sac.amplitude_deg, sac.peak_velocity) == (957.9, 526.0, 0.66, 196.0)
    # the last SSACC L 1409026 has no ESACC before END
    assert rec.dropped == {"unterminated tracker event": 1}
    # MSG 1408659 GAZE_COORDS 0.00 0.00 1920.00 1080.00 -> 1921 x 1081 (pymovements' convention as well)
    assert rec.screen_px == (1921.0, 1081.0)
    # one TRIALID message: trial I902C_low from 1408866 to the end of the recording
    assert rec.trials["trial"].tolist() == ["I902C_low"] and rec.trials["start_ms"].iloc[0] == 1408866.0
    assert len(rec.messages) == 109


def test_trials_split_by_messages_and_slicing():
    rec = read_raw(asc("eyelink_monocular_example.asc"))
    assert rec.trials["trial"].tolist()[:3] == ["0", "4", "1"] or len(rec.trials) == 5
    custom = rec.split_trials(start=r"SYNCTIME\.P\d", end=r"P\d\.STOP")
    assert len(custom) > 0 and (custom["end_ms"] >= custom["start_ms"]).all()
    part = rec.slice_time(2154556, 2154561)
    assert part.time_ms.tolist() == [2154556.0, 2154557.0, 2154560.0]


def test_geometry_is_attached_and_checked():
    geom = ScreenGeometry(1280, 1024, 38.0, 30.0, 67.0)
    rec = read_raw(asc("eyelink_monocular_example.asc"), geometry=geom)
    assert rec.geometry == geom
    with pytest.raises(InvalidInputError, match="1920x1080 px but"):
        read_raw(asc("eyelink_monocular_example.asc"), geometry=ScreenGeometry(1920, 1080, 50, 30, 60))


def test_format_is_guessed():
    assert guess_format(asc("raccoons.asc")) == "eyelink_asc"


# ---------------------------------------------------------------------- pymovements parity
@pytest.mark.parametrize("name", ASC_FILES)
def test_pymovements_from_asc_parity(name):
    pm = _pm()
    path = asc(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gaze = pm.gaze.from_asc(str(path), events=True)
    rec = read_raw(path)
    s = gaze.samples
    assert len(rec) == s.height
    np.testing.assert_array_equal(rec.time_ms, s["time"].cast(float).to_numpy())
    assert rec.sampling_rate_hz == gaze.experiment.eyetracker.sampling_rate
    assert rec.screen_px == tuple(float(v) for v in gaze.experiment.screen.resolution)
    pixel = np.array([[np.nan if v is None else v for v in row] for row in s["pixel"].to_list()], dtype=float)
    pupil = s["pupil"].to_list()
    pupil = np.array([row if isinstance(row, list) else [row] for row in pupil], dtype=float)
    for k in range(len(rec.eyes)):
        np.testing.assert_array_equal(rec.x[:, k], pixel[:, 2 * k])
        np.testing.assert_array_equal(rec.y[:, k], pixel[:, 2 * k + 1])
        np.testing.assert_array_equal(rec.pupil[:, k], pupil[:, k])
    # Events: pymovements skips an ESACC whose start position is '.' (eyelink_monocular_no_dummy_example line
    # 111); every other completed event matches in kind, eye, onset and offset.
    ours = rec.events[~((rec.events["kind"] == "saccade") & rec.events["start_x"].isna())]
    kinds = {"fixation_eyelink": "fixation", "saccade_eyelink": "saccade", "blink_eyelink": "blink"}
    theirs = sorted((kinds[n], e, float(a), float(b)) for n, e, a, b in gaze.events.frame.select(
        ["name", "eye", "onset", "offset"]).iter_rows())
    mine = sorted((k, e, math.floor(a), math.floor(b)) for k, e, a, b in zip(
        ours["kind"], ours["eye"], ours["onset_ms"], ours["offset_ms"]))
    assert mine == theirs
    skipped = len(rec.events) - len(ours)
    assert skipped == (1 if name == "eyelink_monocular_no_dummy_example.asc" else 0)


# ---------------------------------------------------------------------- bad input
def _write(tmp_path, text: str, name="bad.asc"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _lines(name="eyelink_binocular_example.asc"):
    return asc(name).read_text(encoding="utf-8", errors="replace").split("\n")


def test_truncated_file_names_the_line(tmp_path):
    lines = _lines()
    cut = "\n".join(lines[:200]) + "\n" + lines[200][:12]  # cut mid-sample, no trailing newline
    p = _write(tmp_path, cut)
    with pytest.raises(DataFormatError, match=r"line 201.*truncated") as err:
        read_raw(p)
    assert str(p) in str(err.value)
    rec = read_raw(p, on_error="drop")
    assert rec.dropped["truncated last line"] == 1
    assert len(rec) == sum(ln[:1].isdigit() for ln in lines[:200])


def test_missing_sample_column_names_line_and_field(tmp_path):
    lines = _lines()
    lines[151] = "\t".join(lines[151].split("\t")[:4])  # line 152 is a sample: keep time, x, y, pupil of left eye
    assert lines[151].startswith("1408668")
    p = _write(tmp_path, "\n".join(lines))
    with pytest.raises(DataFormatError, match=r"record line 152.*field 'x_right'.*4 tab-separated fields, expected 8"):
        read_raw(p)
    rec = read_raw(p, on_error="drop")
    assert rec.dropped["sample line with missing or extra columns"] == 1
    assert len(rec) == 367


def test_non_numeric_sample_value(tmp_path):
    lines = _lines()
    k = next(i for i, ln in enumerate(lines) if ln.startswith("1408700"))
    parts = lines[k].split("\t")
    parts[2] = "  5x1.2"
    lines[k] = "\t".join(parts)
    p = _write(tmp_path, "\n".join(lines))
    with pytest.raises(DataFormatError, match=rf"record line {k + 1}, field 'y_left'.*not a number"):
        read_raw(p)
    assert read_raw(p, on_error="drop").dropped == {"sample line with a non-numeric value": 1,
                                                   "unterminated tracker event": 1}


def test_non_monotonic_timestamps(tmp_path):
    lines = _lines("raccoons.asc")
    i = next(i for i, ln in enumerate(lines) if ln.startswith("147950"))
    j = next(i for i, ln in enumerate(lines) if ln.startswith("147951"))
    lines[i], lines[j] = lines[j], lines[i]
    p = _write(tmp_path, "\n".join(lines))
    with pytest.raises(DataFormatError, match=rf"line {j + 1}, field 'time'.*147950 ms is not after.*147951"):
        read_raw(p)
    rec = read_raw(p, on_error="drop")
    assert rec.dropped["non-increasing timestamp"] == 1 and len(rec) == 432
    assert (np.diff(rec.time_ms) > 0).all()


def test_sample_before_layout_and_no_samples(tmp_path):
    p = _write(tmp_path, "** CONVERTED FROM x.edf\nMSG\t10 hello\n")
    with pytest.raises(DataFormatError, match="no SAMPLES line"):
        read_raw(p)
    p = _write(tmp_path, "** CONVERTED FROM x.edf\n100\t1.0\t2.0\t3.0\t...\n")
    with pytest.raises(DataFormatError, match="line 2.*before any SAMPLES line"):
        read_raw(p)


def test_bad_event_and_message_lines(tmp_path):
    lines = _lines("raccoons.asc")
    k = next(i for i, ln in enumerate(lines) if ln.startswith("EFIX"))
    lines[k] = "EFIX L   147953"
    p = _write(tmp_path, "\n".join(lines))
    with pytest.raises(DataFormatError, match=rf"line {k + 1}, field 'EFIX'.*malformed EFIX"):
        read_raw(p)
    rec = read_raw(p, on_error="drop")
    assert rec.dropped["malformed EFIX line"] == 1 and rec.dropped["unterminated tracker event"] == 1
    with pytest.raises(InvalidInputError):
        read_eyelink_asc(p, on_error="ignore")


# ---------------------------------------------------------------------- fuzz
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_MUTATIONS = st.lists(st.tuples(st.sampled_from(["delete", "duplicate", "truncate", "swap", "garble", "blank"]),
                                st.integers(0, 10_000), st.integers(0, 200), st.text(max_size=6)),
                      min_size=1, max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(ASC_FILES), mutations=_MUTATIONS)
def test_fuzz_mutated_real_files(tmp_path, name, mutations):
    """Mutated real files either parse into a consistent recording or raise DataFormatError -- never anything
    else; with on_error='drop' they only fail for file-level problems."""
    lines = _lines(name)
    for op, where, cut, junk in mutations:
        i = where % len(lines)
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "truncate":
            lines[i] = lines[i][: cut % (len(lines[i]) + 1)]
        elif op == "swap" and i + 1 < len(lines):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        elif op == "garble":
            s = lines[i]
            c = cut % (len(s) + 1)
            lines[i] = s[:c] + junk + s[c + 1:]
        elif op == "blank":
            lines[i] = ""
    p = tmp_path / "fuzz.asc"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="replace")
    for mode in ("raise", "drop"):
        try:
            rec = read_raw(p, on_error=mode)
        except DataFormatError as err:
            assert "fuzz.asc" in str(err)
            continue
        n = len(rec)
        assert rec.x.shape == rec.y.shape == rec.valid.shape == (n, len(rec.eyes))
        assert (np.diff(rec.time_ms) > 0).all()
        assert np.array_equal(rec.valid, np.isfinite(rec.x) & np.isfinite(rec.y))
        assert all(v > 0 for v in rec.dropped.values())


def test_velocity_and_resolution_columns_layout(tmp_path):
    """A hand-written file with VEL, RES and INPUT columns (edf2asc -vel -res -input), monocular right eye."""
    text = "\n".join([  # noqa: FLY002 (one line per .asc line reads better)
        "** CONVERTED FROM hand.edf",
        "MSG\t99 GAZE_COORDS 0.00 0.00 799.00 599.00",
        "START\t100 \tRIGHT\tSAMPLES\tEVENTS",
        "SAMPLES\tGAZE\tRIGHT\tVEL\tRES\tRATE\t 500.00\tTRACKING\tCR\tFILTER\t2\tINPUT",
        "100\t  400.0\t  300.0\t 1000.0\t   1.5\t  -2.5\t  30.1\t  29.9\t  127.0\t.....",
        "102\t  401.0\t  301.0\t 1001.0\t   .\t   .\t  30.2\t  29.8\t  127.0\t.....",
        "104\t   .\t   .\t    0.0\t   .\t   .\t  30.2\t  29.8\t  127.0\t.C...",
        "END\t105 \tSAMPLES\tEVENTS\tRES\t  30.00\t  30.00",
    ]) + "\n"
    rec = read_raw(_write(tmp_path, text, "hand.asc"))
    assert rec.eyes == ("right",) and rec.sampling_rate_hz == 500.0 and rec.screen_px == (800.0, 600.0)
    assert rec.time_ms.tolist() == [100.0, 102.0, 104.0]
    np.testing.assert_array_equal(rec.x[:, 0], [400.0, 401.0, np.nan])
    np.testing.assert_array_equal(rec.pupil[:, 0], [1000.0, 1001.0, 0.0])
    assert rec.valid[:, 0].tolist() == [True, True, False] and rec.meta["velocity_columns"]
    with pytest.raises(InvalidInputError, match="eye 'left' was not recorded"):
        rec.gaze("left")


@pytest.mark.parametrize("name", ["eyelink_binocular_example.asc", "eyelink_monocular_2khz_example.asc"])
def test_windows_line_endings_parse_identically(tmp_path, name):
    p = tmp_path / "crlf.asc"
    p.write_bytes(asc(name).read_bytes().replace(b"\n", b"\r\n"))
    a, b = read_raw(asc(name)), read_raw(p)
    np.testing.assert_array_equal(a.time_ms, b.time_ms)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.pupil, b.pupil)
    assert a.events.drop(columns="line").equals(b.events.drop(columns="line"))
    assert a.messages["text"].tolist() == b.messages["text"].tolist()
