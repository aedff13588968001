"""Progress bars for long loops (rich, on stderr): counts, a bar and elapsed / remaining time.

Bars are drawn only when stderr is a terminal, so logs, pipes and tests that read the output see nothing
(``GAZEKIT_PROGRESS=0`` turns them off, ``=1`` forces them on).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def bars_enabled(console=None) -> bool:
    """Whether progress bars are shown: ``GAZEKIT_PROGRESS`` if set, else whether stderr is a terminal."""
    flag = os.environ.get("GAZEKIT_PROGRESS", "").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return False
    if flag in ("1", "true", "yes", "on"):
        return True
    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    return console.is_terminal


def new_progress(console=None, transient: bool = True):
    """A rich ``Progress`` with description, bar, ``done/total``, elapsed and remaining time (on stderr)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = console or Console(stderr=True)
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=transient,
                    disable=not bars_enabled(console))


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` under a progress bar of ``total`` steps (default ``len(items)``)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    if not bars_enabled():
        yield from items
        return
    with new_progress() as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)
