"""``gazekit events``: read raw eye-tracker files and detect fixations/saccades.

    gazekit events info RAW                       # samples, eyes, rate, trials, tracker events, drops
    gazekit events detect RAW --method ivt --geometry 1920,1080,53.1,29.9,65 --out fixations.csv
    gazekit events readers                        # the registered raw readers
"""

from __future__ import annotations

import json
import sys
import warnings

COMMAND = "events"
HELP = "raw eye-tracker data: file info, and I-VT / I-DT fixation and saccade detection"
DESCRIPTION = ("Read raw eye-tracker files (EyeLink .asc, Tobii TSV, lund2013 .mat, BIDS events TSV) and detect "
               "fixations and saccades with I-VT or I-DT. Fixations are written as a gazekit scanpath table (one "
               "scanpath per trial; x/y px, onsets and durations ms); thresholds are in degrees when --geometry is "
               "given (or known from the file), else in pixels with a warning.")


def _geometry(text: str | None):
    if text is None:
        return None
    from gazekit.errors import InvalidInputError
    from gazekit.geometry import ScreenGeometry

    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 5:
        raise InvalidInputError(f"--geometry must be W_PX,H_PX,W_CM,H_CM,DIST_CM (5 numbers), got {text!r}")
    return ScreenGeometry(*values)


def add_arguments(parser) -> None:
    """The ``info``, ``detect`` and ``readers`` sub-commands and their options."""
    sub = parser.add_subparsers(dest="events_command", metavar="SUBCOMMAND")
    common = {"help": "raw file (.asc, .tsv, .mat, *_events.tsv); one file, not a folder"}
    info = sub.add_parser("info", help="what a raw file holds")
    info.add_argument("raw", **common)
    info.add_argument("--format", default=None, help="reader name, see 'gazekit events readers' (default: from the "
                                                     "suffix and the header line)")
    info.add_argument("--screen-px", default=None, help="W,H pixels for normalised (Tobii) coordinates")
    info.add_argument("--json", action="store_true", help="print JSON")
    det = sub.add_parser("detect", help="detect fixations and saccades")
    det.add_argument("raw", **common)
    det.add_argument("--method", choices=("ivt", "idt"), default="ivt")
    det.add_argument("--geometry", default=None, metavar="W_PX,H_PX,W_CM,H_CM,DIST_CM",
                     help="screen size in px and cm and viewing distance in cm (thresholds then in degrees)")
    det.add_argument("--threshold", type=float, default=None,
                     help="I-VT deg/s (px/s without geometry) or I-DT deg (px); default 30 deg/s / 1.0 deg")
    det.add_argument("--min-fixation-ms", type=float, default=None, help="minimum fixation duration (ms)")
    det.add_argument("--eye", default="auto", help="left, right, average or auto (default)")
    det.add_argument("--blink-margin-ms", type=float, default=0.0, help="also drop samples this close to track loss")
    det.add_argument("--merge-gap-ms", type=float, default=0.0,
                     help="merge fixations at most this far apart in time and 0.5 deg in space (Tobii filter: 75)")
    det.add_argument("--no-trials", action="store_true", help="one scanpath for the whole file, ignore TRIALID")
    det.add_argument("--format", default=None, help="reader name, see 'gazekit events readers' (default: from the "
                                                    "suffix and the header line)")
    det.add_argument("--screen-px", default=None, help="W,H pixels for normalised (Tobii) coordinates")
    det.add_argument("--out", required=True, help="fixations table: .csv, .parquet or .json")
    det.add_argument("--saccades", default=None, help="also write the saccade table (.csv or .parquet)")
    det.add_argument("--on-invalid", choices=("error", "drop", "clip"), default="error",
                     help="detected fixations that are invalid (NaN or infinite position, outside the screen when its "
                          "size is known): error stops and names them (default); drop removes them; clip moves them "
                          "onto the screen border; counts are printed")
    sub.add_parser("readers", help="list the registered raw readers")
    parser.set_defaults(_events_parser=parser)


def _read(args, geometry=None):
    from gazekit.datasets.raw import read_raw

    options = {}
    if geometry is not None:
        options["geometry"] = geometry
    if getattr(args, "screen_px", None):
        options["screen_px"] = tuple(float(v) for v in args.screen_px.split(","))
    return read_raw(args.raw, format=args.format, **options)


def run(args) -> int:
    """Run ``gazekit events``: list the raw readers, describe a raw file, or detect fixations and saccades in it.
    Returns the exit status.
    """
    if args.events_command == "readers":
        from gazekit.datasets.raw import list_readers, reader_info

        for name in list_readers():
            info = reader_info(name)
            print(f"{name:14s} {', '.join(info['suffixes']):24s} {info.get('description', '')}")
        return 0
    if args.events_command == "info":
        rec = _read(args)
        summary = rec.summary()
        if args.json:
            print(json.dumps(summary, indent=2, default=str))
        else:
            for key, value in summary.items():
                print(f"{key:22s} {value}")
        return 0
    if args.events_command == "detect":
        from gazekit.events import UnitsWarning, detect_events
        from gazekit.scanpaths import write_table

        geometry = _geometry(args.geometry)
        rec = _read(args, geometry)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnitsWarning)
            det = detect_events(rec, args.method, threshold=args.threshold, min_fixation_ms=args.min_fixation_ms,
                                eye=args.eye, blink_margin_ms=args.blink_margin_ms, by_trial=not args.no_trials,
                                merge_gap_ms=args.merge_gap_ms)
        for w in caught:
            print(f"gazekit events detect: warning: {w.message}", file=sys.stderr)
        fixations, report = det.fixations.validate(args.on_invalid, source=args.raw)
        fixations.save(args.out)
        if args.saccades:
            write_table(det.saccades, args.saccades)
        sp = fixations
        print(f"{rec.name}: {sp.num_fixations} fixations in {len(sp)} scanpath(s), {len(det.saccades)} saccades "
              f"({args.method}, threshold {det.params['threshold']:g} "
              f"{det.units + '/s' if args.method == 'ivt' else det.units}, eye {det.params['eye']}); "
              f"invalid samples {det.report['invalid_samples']}/{det.report['samples']}"
              + (f"; dropped while reading: {rec.dropped}" if rec.dropped else "")
              + (f"; --on-invalid {args.on_invalid}: {report}" if not report.empty else "")
              + (f"; {det.report['fixations outside any trial']} fixations outside any trial (use --no-trials)"
                 if det.report.get("fixations outside any trial") else "") + f" -> {args.out}")
        return 0
    args._events_parser.print_help()
    return 0
