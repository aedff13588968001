"""Messages of the commands (issue 15): errors name the file, record, field and the flag that fixes it; help texts
are plain text; no traceback escapes."""

from __future__ import annotations

import re

import pytest

from gazekit.cli import build_parser, main
from gazekit.paths import data_root

MARKUP = re.compile(r":(?:mod|class|func|meth|attr):|``")


def _parsers():
    parser, _ = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsers")
    for name, p in sub.choices.items():
        yield name, p
        for action in p._actions:
            if action.__class__.__name__ == "_SubParsers":
                for child, q in action.choices.items():
                    yield f"{name} {child}", q


def test_help_texts_are_plain_text():
    """Why: help texts showed raw :mod:/:class:/`` `` markup."""
    seen = []
    for name, p in _parsers():
        text = p.format_help()
        assert not MARKUP.search(text), f"'gazekit {name} --help' shows markup: {MARKUP.findall(text)}"
        seen.append(name)
    assert {"predict", "evaluate", "score", "data info", "events detect", "plot"} <= set(seen)


def test_every_reading_command_has_the_policy_flag():
    for name, p in _parsers():
        if name in ("data info", "data convert", "score", "evaluate", "plot", "predict", "events detect"):
            assert "--on-invalid" in p.format_help(), name


def test_events_detect_on_a_tsv_that_is_not_tobii(tmp_path, capsys):
    """Why: events detect treated any .tsv as Tobii, and its hints said format= where the flag is --format."""
    path = tmp_path / "mine.tsv"
    path.write_text("time\tx\ty\n0\t1\t2\n")
    assert main(["events", "detect", str(path), "--out", str(tmp_path / "f.csv")]) == 2
    err = capsys.readouterr().err
    assert "mine.tsv" in err and "it is not tobii_tsv" in err and "pass --format NAME" in err
    assert "Traceback" not in err


def test_events_on_a_folder_says_it_is_a_folder(tmp_path, capsys):
    """Why: events detect called a directory 'does not exist'."""
    assert main(["events", "info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a folder, not a raw recording" in err and "does not exist" not in err


def test_real_tobii_file_is_still_recognised(capsys):
    path = data_root() / "tobii_tx300" / "example_data" / "participant1" / "1.tsv"
    if not path.is_file():
        pytest.skip(f"real data file {path} not found")
    assert main(["events", "info", str(path), "--screen-px", "1920,1080"]) == 0
    assert "tobii" in capsys.readouterr().out.lower()


def test_messages_name_file_record_field_and_flag(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("image,subject,x,y,duration_ms\na,s,1,2,100\na,s,one,2,100\n")
    assert main(["data", "info", str(path), "--no-cache"]) == 2
    assert "t.csv', record row 1, field 'x': value 'one' is not a number" in capsys.readouterr().err
    path.write_text("image,subject,px,py\na,s,1,2\n")
    assert main(["data", "info", str(path), "--no-cache"]) == 2
    assert "field 'x': no column for 'x'; name it with --columns" in capsys.readouterr().err
    assert main(["data", "info", str(path), "--columns", "x=px,y=py", "--image-size", "big", "--no-cache"]) == 2
    assert "--image-size must be W,H" in capsys.readouterr().err
