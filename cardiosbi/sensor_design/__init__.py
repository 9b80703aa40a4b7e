"""Wearable-sensor design studies: which quantities stay identifiable for which design.

A :class:`SensorDesign` (LED wavelengths, geometry, source-detector distance, LED power) turns
simulated subjects into the windows it would record (:func:`design_windows`, photodetector shot
noise and a front-end noise floor); one NPE per design (:func:`train_design`) is judged per skin
tone, perfusion and noise level (:func:`identifiability_table`), drawn as heat maps
(:func:`plot_identifiability`) and summarised on one page (:func:`design_summary`), with SpO2
set beside the classical ratio-of-ratios oximeter (:func:`classical_spo2`).
"""

from cardiosbi.sensor_design.design import SensorDesign, designs_from_mapping
from cardiosbi.sensor_design.figures import plot_identifiability, plot_pulse_snr
from cardiosbi.sensor_design.identifiability import (
    Thresholds,
    TrainSettings,
    identifiability_table,
    posterior_rows,
    prior_widths,
    train_design,
)
from cardiosbi.sensor_design.oximetry import classical_spo2, fit_ratio_curve, spo2_comparison
from cardiosbi.sensor_design.summary import design_summary
from cardiosbi.sensor_design.windows import (
    SKIN_TONES,
    TARGETS,
    WindowSettings,
    design_windows,
    simulate_subjects,
    stratified_subjects,
)

__all__ = [
    "SKIN_TONES", "TARGETS", "SensorDesign", "Thresholds", "TrainSettings", "WindowSettings",
    "classical_spo2", "design_summary", "design_windows", "designs_from_mapping",
    "fit_ratio_curve", "identifiability_table", "plot_identifiability", "plot_pulse_snr",
    "posterior_rows", "prior_widths", "simulate_subjects", "spo2_comparison",
    "stratified_subjects", "train_design",
]
