"""Whether a posterior's biomarker has been validated on real data, as its model card says.

A posterior file carries, per parameter, a status and a note (``Posterior.validation``):

- ``validated``: checked against real references (e.g. ECG heart rate, arterial-line MAP) on
  held-out patients, with the numbers in the model card;
- ``in silico only``: accurate on held-out simulations, but no real label was ever compared;
- ``known bias``: compared on real data and found biased or no better than a trivial baseline.

Anything but ``validated`` is shown greyed with its note, never as a sound number. A parameter
the file says nothing about is ``in silico only``: a model trained on simulations has not met a
patient until someone shows it has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cardiosbi.errors import InputFileError

STATUSES = ("validated", "in silico only", "known bias")
UNRECORDED = "no real-data validation is recorded in this posterior file"


@dataclass(frozen=True)
class Validity:
    status: str
    note: str = ""

    @property
    def validated(self) -> bool:
        return self.status == "validated"


def validity_of(validation: Mapping[str, Mapping[str, str]] | None, name: str) -> Validity:
    """The recorded status of parameter ``name`` (``in silico only`` when none is recorded)."""
    entry = (validation or {}).get(name)
    if entry is None:
        return Validity("in silico only", UNRECORDED)
    return Validity(entry["status"], entry.get("note", ""))


def derived_validity(inputs: Sequence[str], validity: Mapping[str, Validity]) -> Validity:
    """A derived quantity (CO = HR x SV) is as valid as its least valid input."""
    worst = max((validity[name] for name in inputs), key=lambda v: STATUSES.index(v.status))
    if worst.validated:
        return worst
    return Validity(worst.status, f"from {', '.join(inputs)}: {worst.note}")


def checked_validation(validation) -> dict[str, dict[str, str]] | None:
    """``validation`` as read from a file, checked: {name: {"status", "note"}} or None."""
    if validation is None:
        return None
    if not isinstance(validation, Mapping):
        raise InputFileError("posterior file: 'validation' must map parameter names to statuses")
    checked = {}
    for name, entry in validation.items():
        if not (isinstance(entry, Mapping) and entry.get("status") in STATUSES
                and isinstance(entry.get("note", ""), str)):
            raise InputFileError(f"posterior file: validation of {name!r} must be "
                                 f"{{'status': one of {STATUSES}, 'note': text}}; got {entry!r}")
        checked[str(name)] = {"status": entry["status"], "note": entry.get("note", "")}
    return checked
