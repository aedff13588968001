"""Reading and writing model files safely (see docs/security.md, "Which files gazekit trusts").

* Every torch file is first read with ``torch.load(..., weights_only=True)`` and the allow-list
  :data:`SAFE_GLOBALS` (the few non-tensor types a gazekit or Lightning checkpoint may hold): such a read builds
  tensors and plain containers only and runs no code from the file.
* A file that needs anything else is refused with :class:`~gazekit.errors.UntrustedCheckpointError`, unless it is
  *trusted*: its sha256 equals the one recorded for a shipped weight file (or one the caller checked), or the
  caller opted in for exactly these bytes with ``trust="<sha256 hex>"`` (``--trust-checkpoint SHA256`` on the
  command line). The file is read once; its bytes are hashed, compared and unpickled from memory, so the bytes
  checked are the bytes loaded.
* JSON files (the free-viewing baselines' priors) are parsed as JSON: no code at all.
* Writing goes to a temporary file in the same folder, renamed into place when complete, so a killed process
  never leaves a truncated checkpoint under the final name.
"""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import re
import shlex
from pathlib import Path

from gazekit.errors import InvalidInputError, UntrustedCheckpointError

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def trust_hint(path: str | Path, digest: str) -> str:
    """How to opt in for the file ``path`` whose bytes have sha256 ``digest`` (ends a refusal message)."""
    return (f"If you trust this file (you made it, or you checked where it came from), load exactly these bytes "
            f"with trust=\"{digest}\" in Python or --trust-checkpoint {digest} on the command line (the file's "
            f"sha256, as printed by: sha256sum {shlex.quote(str(path))}; an edited file will not match).")


def check_trust(trust, name: str = "trust", path: str | Path | None = None) -> frozenset[str] | None:
    """The opt-in ``trust`` as a set of lower-case sha256 hex strings, or None when not given (None or False).

    ``trust`` names the content of the file the caller reviewed: its sha256 as 64 hex digits (any case), or
    several such strings when one call reads several files (``gazekit evaluate --leave-one-out``, the repeated
    ``--trust-checkpoint``). A bare ``True`` (the old opt-in, which vouched for whatever bytes the path holds) or a
    malformed value is an :class:`~gazekit.errors.InvalidInputError` naming the argument ``name`` and saying how
    to get the hash."""
    if trust is None or trust is False:
        return None
    file = shlex.quote(str(path)) if path is not None else "FILE"
    how = (f"after reviewing the file, get its sha256 with: sha256sum {file} (or copy it from gazekit's refusal "
           f"message), and pass that")
    if trust is True:
        raise InvalidInputError(f"{name}=True is not accepted: the opt-in names the content of the file you trust, "
                                f"{name}=\"<its sha256, 64 hex digits>\"; {how}")
    values = list(trust) if isinstance(trust, (list, tuple, set, frozenset)) else [trust]
    bad = [v for v in values if not isinstance(v, str) or not _SHA256.fullmatch(v.strip())]
    if bad or not values:
        got = bad[0] if bad else trust
        raise InvalidInputError(f"{name} must be the sha256 of the file you trust (64 hex digits), got {got!r}; "
                                f"{how}")
    return frozenset(v.strip().lower() for v in values)


def safe_globals() -> list:
    """The non-tensor types gazekit (and Lightning) write into checkpoints, allowed by the weights-only reader:
    paths (a hyper-parameter given as a ``Path``). Containers, numbers, strings, bytes, ``None`` and tensors are
    always allowed by ``weights_only=True``."""
    return [pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePosixPath, pathlib.PureWindowsPath]


def allow_safe_globals() -> None:
    """Add :func:`safe_globals` to torch's process-wide weights-only allow-list (for readers gazekit does not
    call itself, such as Lightning's ``ckpt_path`` load)."""
    import torch

    torch.serialization.add_safe_globals(safe_globals())


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def shipped_digests() -> set[str]:
    """sha256 of every weight file registered as shipped (``register_model(weights=...)``)."""
    from gazekit.models.registry import all_weight_specs

    return {spec.sha256 for spec in all_weight_specs()}


def read_checkpoint(path: str | Path, *, sha256: str | None = None, trust=None) -> tuple[dict, bool]:
    """Read a model file into a dict; returns ``(state, trusted)``.

    Args:
        path: a torch file (``.pt``, ``.ckpt``, ...) or a JSON file.
        sha256: the expected sha256 of the file's bytes (a shipped file); a mismatch is an error.
        trust: the sha256 (64 hex digits) of the file the caller reviewed and vouches for (or several, see
            :func:`check_trust`): allows a full (code-running) unpickling of exactly those bytes when the
            weights-only read refuses the file. A mismatch is an :class:`~gazekit.errors.UntrustedCheckpointError`
            naming both hashes.
    Returns:
        the file's dict and whether the file is trusted (sha256 or trust matched, or a shipped file's bytes).
    """
    expected = check_trust(trust, path=path)
    path = Path(path).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"checkpoint {str(path)!r} does not exist")
    data = path.read_bytes()  # read once: these bytes are hashed, checked and parsed
    digest = sha256_of(data)
    if sha256 and digest != sha256:
        raise InvalidInputError(f"checkpoint {str(path)!r} is corrupted: sha256 {digest} != recorded {sha256}")
    if expected is not None and digest not in expected:
        raise UntrustedCheckpointError(
            f"refused to load {str(path)!r}: its sha256 is {digest}, not the trusted sha256 "
            f"{' or '.join(sorted(expected))} (trust / --trust-checkpoint); these are not the bytes that were "
            f"reviewed")
    trusted = expected is not None or bool(sha256) or digest in shipped_digests()
    if path.suffix == ".json" or data[:1] == b"{":
        try:
            state = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise InvalidInputError(f"{str(path)!r} is not a readable JSON model file ({err})") from err
        if not isinstance(state, dict):
            raise InvalidInputError(f"{str(path)!r}: a JSON model file holds an object, got {type(state).__name__}")
        return state, trusted
    state = _torch_load(data, path, trusted, digest)
    if not isinstance(state, dict):
        raise InvalidInputError(f"{str(path)!r} is not a gazekit or Lightning checkpoint (it holds a "
                                f"{type(state).__name__}, not a dict)")
    return state, trusted


def _torch_load(data: bytes, path: Path, trusted: bool, digest: str):
    import pickle

    import torch

    try:
        with torch.serialization.safe_globals(safe_globals()):
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if "Unsupported global" in ln or "GLOBAL" in ln]
        if not lines:  # not a pickle at all, or a damaged one
            raise InvalidInputError(f"{str(path)!r} is not a readable torch checkpoint ({_last_line(err)})") from err
        if not trusted:
            raise UntrustedCheckpointError(
                f"refused to load {str(path)!r}: it holds Python objects that gazekit never writes, and unpickling "
                f"them could run code from the file (the weights-only reader said: {lines[0]}). "
                f"{trust_hint(path, digest)}"
            ) from err
    except Exception as err:  # torch raises zip, runtime and EOF errors for files that are no checkpoint at all
        raise InvalidInputError(f"{str(path)!r} is not a readable torch checkpoint ({_last_line(err)})") from err
    try:  # beyond the allow-list, and `data` are the very bytes whose sha256 matched (trust, recorded or shipped)
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)  # trusted: sha256-checked
    except Exception as err:  # noqa: BLE001
        raise InvalidInputError(f"{str(path)!r} is not a readable torch checkpoint ({err})") from err


def _last_line(err: Exception) -> str:
    text = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return text[-1] if text else type(err).__name__


def check_lightning_checkpoint(path: str | Path, *, trust=None) -> dict:
    """Refuse a Lightning ``.ckpt`` (``--ckpt_path``) that the weights-only reader cannot read, unless trusted;
    raises like :func:`read_checkpoint`. Returns the checkpoint's dict."""
    return read_checkpoint(path, trust=trust)[0]


def write_atomic(path: str | Path, write) -> str:
    """Call ``write(binary file object)`` on a temporary file next to ``path`` that is renamed to ``path`` when
    complete (:mod:`gazekit._atomic`); returns the sha256 of the bytes written."""
    from gazekit._atomic import atomic_open

    with atomic_open(path, "wb") as fh:
        write(fh)
    return sha256_of(Path(path).read_bytes())


def save_torch(state: dict, path: str | Path) -> str:
    import torch

    return write_atomic(path, lambda fh: torch.save(state, fh))


def save_json(state: dict, path: str | Path) -> str:
    return write_atomic(path, lambda fh: fh.write(json.dumps(state, indent=1).encode("utf-8")))
