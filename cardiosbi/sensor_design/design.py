"""A candidate wearable sensor: its LEDs, geometry and drive, checked before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cardiosbi.errors import ConfigError
from simulators.ppg.validation import GEOMETRIES, check_wavelengths


@dataclass(frozen=True)
class SensorDesign:
    """One design. ``distance_mm``: source-detector distance (reflectance) or lateral offset
    across a ``slab_mm`` thick finger (transmission); ``led_power``: LED drive relative to the
    nominal one (the detected light scales with it, the front-end noise floor does not)."""

    name: str
    wavelengths_nm: tuple[float, ...]
    distance_mm: float = 3.0
    geometry: str = "reflectance"
    slab_mm: float = 10.0
    led_power: float = 1.0

    def __post_init__(self) -> None:
        where = f"design {self.name!r}"
        try:
            check_wavelengths(self.wavelengths_nm)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if len(set(self.wavelengths_nm)) != len(self.wavelengths_nm):
            raise ConfigError(f"{where}: wavelengths {list(self.wavelengths_nm)} repeat")
        if self.geometry not in GEOMETRIES:
            raise ConfigError(f"{where}: geometry={self.geometry!r}; use {' or '.join(GEOMETRIES)}")
        for key in ("slab_mm", "led_power"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"{where}: {key} must be > 0, got {getattr(self, key)}")
        if not self.distance_mm >= 0 or (self.geometry == "reflectance" and self.distance_mm == 0):
            raise ConfigError(f"{where}: distance_mm must be > 0 in reflectance, >= 0 in transmission")

    @property
    def optics(self) -> tuple[str, float, float]:
        """What the light transport depends on (designs sharing it share one simulation)."""
        return self.geometry, float(self.distance_mm), float(self.slab_mm)


def designs_from_mapping(designs: Mapping[str, Mapping]) -> list[SensorDesign]:
    """Designs from a config mapping ``name -> {wavelengths_nm: [...], distance_mm: ..., ...}``."""
    if not designs:
        raise ConfigError("designs: name at least one sensor design")
    valid = {"wavelengths_nm", "distance_mm", "geometry", "slab_mm", "led_power"}
    out = []
    for name, fields in designs.items():
        unknown = sorted(set(fields) - valid)
        if unknown:
            raise ConfigError(f"design {name!r}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}")
        if "wavelengths_nm" not in fields:
            raise ConfigError(f"design {name!r}: wavelengths_nm is required")
        values = {**fields, "wavelengths_nm": tuple(float(w) for w in fields["wavelengths_nm"])}
        out.append(SensorDesign(name=str(name), **values))
    return out
