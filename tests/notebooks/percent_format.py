"""The check every notebook gets: it is a valid notebook in jupytext's percent format."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat


def checked_prose(path: Path, markdown: int, code: int) -> str:
    """Validate the notebook at ``path``, check that it has at least ``markdown`` and ``code``
    cells and that the file is exactly what jupytext writes for it (the percent format
    round-trips); return the text of its markdown cells for the caller's own checks."""
    notebook = jupytext.read(path)
    nbformat.validate(notebook)
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds.count("markdown") >= markdown and kinds.count("code") >= code, kinds
    assert _without_version(jupytext.writes(notebook, fmt="py:percent")) == _without_version(
        path.read_text())
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


def _without_version(text: str) -> str:
    """Jupytext text without the header line naming the jupytext version that wrote it."""
    return "\n".join(line for line in text.splitlines() if "jupytext_version:" not in line)
