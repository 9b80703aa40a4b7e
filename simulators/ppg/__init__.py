"""PPG forward models: stored-volume PPG (PWDB recipe) and an optical layered-skin model.

Modules: ``volume`` (blood volume at a site), ``optical`` (light transport at one wavelength),
``sensor`` (a multi-wavelength sensor with contact pressure, LED gain and ambient light),
``spo2`` (ratio of ratios and its model-derived calibration), ``validation`` (per-subject
rejection of unphysical optical parameters).
"""

from simulators.ppg.volume import normalise_beat, resistor_bed_volume, volume_ppg, windkessel_volume

__all__ = ["normalise_beat", "resistor_bed_volume", "volume_ppg", "windkessel_volume"]
