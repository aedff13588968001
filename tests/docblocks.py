"""Code blocks of the documentation pages (and the README): parsing, and running them as written.

The convention (docs/contributing.md says the same for writers):

* a ``bash`` block is commands, one per line (``\\`` continues a line, ``#`` starts a comment); a ``python`` block
  is code. Both are run, in page order, from a scratch copy of the repository root (every top-level entry linked,
  ``outputs/`` a real folder, ``../shared/data`` pointing at the shared datasets). The ``python`` blocks of one page
  share one namespace, and files written by earlier blocks are there for later ones;
* ``text`` blocks (printed output, usage synopses, file layouts) and data blocks (``yaml``, ``json``, ``csv``,
  ``toml``) are shown, not run; a fence without a language is refused;
* an HTML comment on the line before a fence qualifies it: ``<!-- docs-test: slow -->`` (minutes: run only with
  ``--runslow``), ``<!-- docs-test: data -->`` (needs the shared datasets: skipped when they are absent; a block
  naming ``../shared/data`` must say so), ``<!-- docs-test: ci -->`` (what ``.ci/run`` runs: installing, the
  suite itself; each command must be in ``.ci/run`` and is not run here). Markers combine: ``slow data``.
  ``<!-- docs-test: file PATH -->`` / ``<!-- docs-test: append PATH -->``: the block is the content of the file PATH
  (relative to the repository root), or is appended to it; the page runner leaves it alone, and
  tests/test_architecture.py applies these blocks to a temporary copy of the package (the extension checklists);
  ``<!-- docs-test: checklist -->`` on a bash block: a step of such a checklist, run by that test in the copy after
  the files are written (not by the page runner).

Python blocks are compiled with the page as file name and their real line numbers, so a traceback points at the
page and line; a failing command is reported as ``page:line``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

RUN_LANGS = ("bash", "python")
SHOWN_LANGS = ("text", "yaml", "json", "csv", "toml")
MARKERS = ("slow", "data", "ci", "checklist")
FILE_MARKERS = ("file", "append")  # followed by a path: the block is that file's content (or is appended to it)

_FENCE = re.compile(r"^(?P<indent>[ ]*)(?P<fence>```+)(?P<info>.*)$")
_MARK = re.compile(r"^\s*<!--\s*docs-test:(?P<words>[^>]*?)-->\s*$")


@dataclass
class Block:
    page: str  # path relative to the repository root
    line: int  # 1-based line of the first code line
    lang: str
    code: str
    markers: tuple[str, ...]
    target: tuple[str, str] | None = None  # ("file" | "append", path relative to the repository root)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def parse_blocks(path: Path, root: Path | None = None) -> list[Block]:
    """Every fenced block of a Markdown file, with its language and docs-test markers.

    Raises ValueError naming page and line for an unlabelled fence, an unknown language, an unknown marker, or an
    unclosed fence.
    """
    rel = path.relative_to(root).as_posix() if root else path.as_posix()
    lines = path.read_text().split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        info = m.group("info").strip()
        lang = info.split()[0].strip("{}. ") if info else ""
        if not lang:
            raise ValueError(f"{rel}:{i + 1}: code fence without a language: use bash or python (run) or "
                             f"{', '.join(SHOWN_LANGS)} (shown, not run)")
        if lang not in RUN_LANGS + SHOWN_LANGS:
            raise ValueError(f"{rel}:{i + 1}: code fence language {lang!r} is neither run ({', '.join(RUN_LANGS)}) "
                             f"nor shown ({', '.join(SHOWN_LANGS)})")
        markers: tuple[str, ...] = ()
        target = None
        if i > 0 and (mk := _MARK.match(lines[i - 1])):
            markers = tuple(mk.group("words").split())
            if markers and markers[0] in FILE_MARKERS:
                if len(markers) != 2:
                    raise ValueError(f"{rel}:{i}: '{markers[0]}' takes exactly one path")
                target, markers = (markers[0], markers[1]), ()
            unknown = set(markers) - set(MARKERS)
            if unknown:
                raise ValueError(f"{rel}:{i}: unknown docs-test marker(s) {sorted(unknown)}; known: {MARKERS}, "
                                 f"or {' PATH, '.join(FILE_MARKERS)} PATH")
        fence, indent = m.group("fence"), len(m.group("indent"))
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if j == len(lines):
            raise ValueError(f"{rel}:{i + 1}: code fence is never closed")
        code = "\n".join(line[indent:] if line[:indent].strip() == "" else line for line in lines[i + 1:j])
        blocks.append(Block(rel, i + 2, lang, code, markers, target))
        i = j + 1
    return blocks


def bash_commands(block: Block) -> list[tuple[int, str]]:
    """(line, command) for each command of a bash block: continuation lines joined, comments and blanks dropped."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for k, line in enumerate(block.code.split("\n")):
        if not pending:
            start = block.line + k
        pending += line
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        words = shlex.split(pending, comments=True)
        if words:
            out.append((start, shlex.join(words)))
        pending = ""
    if pending.strip():
        raise ValueError(f"{block.page}:{start}: a command ends with a line continuation")
    return out
