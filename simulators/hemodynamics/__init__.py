"""Batched 1D arterial hemodynamics in torch (openBF-compatible scheme; no ML here).

Main entry points::

    from simulators.hemodynamics import simulate, load_network, pwdb_subject_network
    result = simulate({"hr": [60.0, 80.0], "sv": [60.0, 70.0]}, network="pwdb116",
                      sites=("radial", "digital"), fs=500.0)
    result.waveforms["radial"]["P"]          # (B, T) pressure [Pa]
    result.labels["map_radial"], result.status, result.reason

``run_network`` / ``write_network_run`` run one openBF-format network and write openBF-layout
CSVs (the ``cardiosbi run-network`` command).
"""

from simulators.hemodynamics.api import SimulationResult, simulate
from simulators.hemodynamics.errors import NetworkError
from simulators.hemodynamics.network import Network, Segment, Site, Windkessel, load_network
from simulators.hemodynamics.openbf import import_openbf
from simulators.hemodynamics.openbf_run import run_network, write_network_run
from simulators.hemodynamics.pwdb import pwdb_subject_network

__all__ = [
    "Network", "NetworkError", "Segment", "SimulationResult", "Site", "Windkessel",
    "import_openbf", "load_network", "pwdb_subject_network", "run_network", "simulate",
    "write_network_run",
]
