"""Run the code blocks of one documentation page, in order, from the current (scratch) folder.

Usage: python run_doc_page.py REPO_ROOT PAGE [--runslow] [--no-data]   (PAGE relative to REPO_ROOT, or absolute)

``gazekit ...`` commands run in this process (``gazekit.cli.main``: imports are paid once per page, not once per
command); other commands run under ``bash -c``. Prints ``== PAGE:LINE`` before each command or block and
``SKIP PAGE:LINE (reason)`` for skipped ones; stops at the first failure with ``FAIL PAGE:LINE ...`` and exit
status 1.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    root, page = Path(argv[0]), argv[1]
    runslow, with_data = "--runslow" in argv, "--no-data" not in argv
    sys.path.insert(0, str(root / "tests"))
    from docblocks import bash_commands, parse_blocks

    namespace: dict = {"__name__": "__docs__"}
    path = Path(page)
    for block in parse_blocks(path if path.is_absolute() else root / path, None if path.is_absolute() else root):
        if block.lang not in ("bash", "python") or {"ci", "checklist"} & set(block.markers) or block.target:
            continue
        if "slow" in block.markers and not runslow:
            print(f"SKIP {block.where} (slow: run with --runslow)", flush=True)
            continue
        if "data" in block.markers and not with_data:
            print(f"SKIP {block.where} (needs the shared datasets, which are absent)", flush=True)
            continue
        if block.lang == "python":
            print(f"== {block.where} python block", flush=True)
            code = "\n" * (block.line - 1) + block.code  # tracebacks show the page's own line numbers
            try:
                exec(compile(code, page, "exec"), namespace)
            except BaseException:  # noqa: BLE001  (report any failure with the page and line)
                traceback.print_exc()
                print(f"FAIL {block.where}: python block raised", flush=True)
                return 1
            continue
        for line, command in bash_commands(block):
            print(f"== {page}:{line}: {command}", flush=True)
            words = shlex.split(command)
            if words[0] == "gazekit":
                from gazekit.cli import main as gazekit_main

                try:
                    rc = gazekit_main(words[1:])
                except SystemExit as exit_:  # argparse exits
                    rc = exit_.code if isinstance(exit_.code, int) else 1
                except BaseException:  # noqa: BLE001
                    traceback.print_exc()
                    rc = 1
                sys.stdout.flush()
            else:
                rc = subprocess.run(["bash", "-c", command], env=os.environ).returncode
            if rc:
                print(f"FAIL {page}:{line}: exit status {rc}: {command}", flush=True)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
