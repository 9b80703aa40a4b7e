"""Import a study script (experiments/<study>/<script>.py) the way its tests need it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType


@contextmanager
def imported_script(folder: Path, script: str = "study") -> Iterator[ModuleType]:
    """The module of ``folder/<script>.py`` under a private name (``<folder>_<script>``):
    several studies name their script study.py, and under one shared name whichever was
    imported first would shadow the others in this test process."""
    name = f"{folder.name}_{script}"
    spec = importlib.util.spec_from_file_location(name, folder / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)
