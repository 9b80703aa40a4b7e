"""PPG forward models: stored-volume PPG (PWDB recipe) and an optical layered-skin model."""

from simulators.ppg.volume import normalise_beat, resistor_bed_volume, volume_ppg, windkessel_volume

__all__ = ["normalise_beat", "resistor_bed_volume", "volume_ppg", "windkessel_volume"]
