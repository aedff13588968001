"""Run ``gazekit ARGS...`` in this process; with ``GAZEKIT_TEST_KILL_AT_WRITE=N`` the process kills itself with
SIGKILL in the middle of its N-th file write: the temporary file is cut to half its bytes (what a kill part-way
through writing leaves) and the process dies before the file is published. Used by tests/test_faults.py."""

import os
import signal
import sys

KILL_AT = int(os.environ.get("GAZEKIT_TEST_KILL_AT_WRITE", "0"))

if KILL_AT:
    import gazekit._atomic as atomic

    real_fsync = atomic._fsync_file
    writes = [0]

    def fsync_or_die(path):
        writes[0] += 1
        if writes[0] == KILL_AT:
            os.truncate(path, os.path.getsize(path) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        real_fsync(path)

    atomic._fsync_file = fsync_or_die

from gazekit.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
