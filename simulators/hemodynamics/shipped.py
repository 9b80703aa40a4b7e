"""Regenerate the shipped networks (package data) from their sources.

``python -m simulators.hemodynamics.shipped BOILEAU_DIR`` converts the openBF Boileau 2015
cases (cca, uta, ibif, adan56) and builds PWDB reference subject 1 (pwdb116), writing
``networks/<name>.yaml`` in the project's format. The tests check that these files equal a
fresh conversion of the sources.
"""

from __future__ import annotations

import sys
from pathlib import Path

from simulators.hemodynamics.network import NETWORK_DIR, Network, Site, save_network
from simulators.hemodynamics.openbf import import_openbf
from simulators.hemodynamics.pwdb import pwdb_subject_network

BOILEAU_SITES = {
    "cca": {"inlet": ("common_carotid_artery", 0.0), "carotid": ("common_carotid_artery", 0.5),
            "outlet": ("common_carotid_artery", 1.0)},
    "uta": {"aortic_root": ("upper_thoracic_aorta", 0.0), "outlet": ("upper_thoracic_aorta", 1.0)},
    "ibif": {"inlet": ("parent", 0.0), "bifurcation": ("parent", 1.0), "outlet": ("d1", 1.0)},
    "adan56": {
        "aortic_root": ("aortic_arch_I", 0.0), "carotid": ("common_carotid_L", 0.5),
        "brachial": ("brachial_L", 0.75), "radial": ("radial_L", 1.0),
        "femoral": ("femoral_L_I", 0.5), "anterior_tibial": ("anterior_tibial_L", 1.0),
    },
}


def boileau_network(source_dir: Path, case: str) -> Network:
    """The Boileau case ``case`` imported from ``source_dir/<case>/<case>.yaml`` with its sites."""
    net = import_openbf(Path(source_dir) / case / f"{case}.yaml")
    net.sites = {k: Site(segment=s, position=p) for k, (s, p) in BOILEAU_SITES[case].items()}
    net.validate()
    return net


def write_shipped_networks(source_dir: Path, out_dir: Path = NETWORK_DIR) -> list[Path]:
    """Write the five shipped network YAML files; returns their paths."""
    paths = [save_network(boileau_network(source_dir, c), out_dir / f"{c}.yaml") for c in BOILEAU_SITES]
    paths.append(save_network(pwdb_subject_network(1), out_dir / "pwdb116.yaml"))
    return paths


if __name__ == "__main__":
    for path in write_shipped_networks(Path(sys.argv[1])):
        print(path)
