"""Progress bars that degrade gracefully: a live bar on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "",
             unit: str = "it", disable: bool | None = None) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar; off a TTY it prints a line about every 30 seconds."""
    interactive = sys.stderr.isatty()
    return tqdm(
        iterable, total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True,
        mininterval=0.1 if interactive else 30.0, leave=interactive,
    )


def progress_bar(*, total: int | None, desc: str = "", unit: str = "it",
                 disable: bool | None = None) -> tqdm:
    """A manually updated bar (``bar.update(n)``, ``bar.set_postfix(...)``), same rules."""
    interactive = sys.stderr.isatty()
    return tqdm(
        total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True,
        mininterval=0.1 if interactive else 30.0, leave=interactive,
    )
