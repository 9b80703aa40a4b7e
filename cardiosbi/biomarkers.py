"""Biomarkers computed draw by draw from inferred ones (passed to ``Posterior.summarize``).

CO is exactly HR * SV / 1000 in every simulation, so a posterior infers HR and SV and CO is
derived from each joint draw: its interval then carries the HR-SV correlation, and the flow
is never asked for the degenerate density of an exact relation.
"""

from __future__ import annotations

from cardiosbi.inference.posterior import Derived

DERIVED = (
    Derived("co", "L/min", ("hr", "sv"), lambda hr, sv: hr * sv / 1000.0),
)
