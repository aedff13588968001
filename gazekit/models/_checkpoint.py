"""Reading and writing model files safely (see docs/security.md, "Which files gazekit trusts").

* Every torch file is first read with ``torch.load(..., weights_only=True)`` and the allow-list
  :data:`SAFE_GLOBALS` (the few non-tensor types a gazekit or Lightning checkpoint may hold): such a read builds
  tensors and plain containers only and runs no code from the file.
* A file that needs anything else is refused with :class:`~gazekit.errors.UntrustedCheckpointError`, unless it is
  *trusted*: its sha256 equals the one recorded for a shipped weight file (or one the caller checked), or the
  caller opted in with ``trust=True`` (``--trust-checkpoint`` on the command line).
* JSON files (the free-viewing baselines' priors) are parsed as JSON: no code at all.
* Writing goes to a temporary file in the same folder, renamed into place when complete, so a killed process
  never leaves a truncated checkpoint under the final name.
"""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
from pathlib import Path

from gazekit.errors import InvalidInputError, UntrustedCheckpointError

TRUST_HINT = ("If you trust this file (you made it, or you checked where it came from), load it with trust=True "
              "in Python or --trust-checkpoint on the command line.")


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


def read_checkpoint(path: str | Path, *, sha256: str | None = None, trust: bool = False) -> tuple[dict, bool]:
    """Read a model file into a dict; returns ``(state, trusted)``.

    Args:
        path: a torch file (``.pt``, ``.ckpt``, ...) or a JSON file.
        sha256: the expected sha256 of the file's bytes (a shipped file); a mismatch is an error.
        trust: allow a full (code-running) unpickling when the weights-only read refuses the file.
    Returns:
        the file's dict and whether the file is trusted (sha256 matched, a shipped file's bytes, or ``trust``).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"checkpoint {str(path)!r} does not exist")
    data = path.read_bytes()
    digest = sha256_of(data)
    if sha256 and digest != sha256:
        raise InvalidInputError(f"checkpoint {str(path)!r} is corrupted: sha256 {digest} != recorded {sha256}")
    trusted = bool(trust) or bool(sha256) or digest in shipped_digests()
    if path.suffix == ".json" or data[:1] == b"{":
        try:
            state = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise InvalidInputError(f"{str(path)!r} is not a readable JSON model file ({err})") from err
        if not isinstance(state, dict):
            raise InvalidInputError(f"{str(path)!r}: a JSON model file holds an object, got {type(state).__name__}")
        return state, trusted
    state = _torch_load(data, path, trusted)
    if not isinstance(state, dict):
        raise InvalidInputError(f"{str(path)!r} is not a gazekit or Lightning checkpoint (it holds a "
                                f"{type(state).__name__}, not a dict)")
    return state, trusted


def _torch_load(data: bytes, path: Path, trusted: bool):
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
                f"them could run code from the file (the weights-only reader said: {lines[0]}). {TRUST_HINT}"
            ) from err
    except Exception as err:  # torch raises zip, runtime and EOF errors for files that are no checkpoint at all
        raise InvalidInputError(f"{str(path)!r} is not a readable torch checkpoint ({_last_line(err)})") from err
    try:  # trusted and beyond the allow-list: the caller vouched for this file
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001
        raise InvalidInputError(f"{str(path)!r} is not a readable torch checkpoint ({err})") from err


def _last_line(err: Exception) -> str:
    text = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return text[-1] if text else type(err).__name__


def check_lightning_checkpoint(path: str | Path, *, trust: bool = False) -> None:
    """Refuse a Lightning ``.ckpt`` (``--ckpt_path``) that the weights-only reader cannot read, unless trusted;
    raises like :func:`read_checkpoint`."""
    read_checkpoint(path, trust=trust)


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
