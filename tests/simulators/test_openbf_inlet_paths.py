"""openBF inlet files: read only from the network YAML's folder unless the caller allows more,
and an unreadable inlet file is named without echoing its contents."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.hemodynamics.errors import NetworkError
from simulators.hemodynamics.network import load_network

SOURCE = Path(__file__).resolve().parents[1] / "data" / "hemodynamics" / "boileau2015" / "cca"


def _network(folder: Path, inlet: str) -> Path:
    """The CCA network in ``folder`` naming ``inlet`` as its inlet file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cca.yaml"
    path.write_text((SOURCE / "cca.yaml").read_text().replace('"cca_inlet.dat"', f'"{inlet}"'))
    return path


def _inlet(path: Path) -> Path:
    path.write_text((SOURCE / "cca_inlet.dat").read_text())
    return path


def test_inlet_beside_the_network_is_read(tmp_path):
    path = _network(tmp_path / "net", "flow.dat")
    _inlet(tmp_path / "net" / "flow.dat")
    net = load_network(path)
    assert len(net.inflow.t) > 10


@pytest.mark.parametrize("name", ["../flow.dat", "{abs}"])
def test_inlet_outside_the_folder_is_refused_unless_allowed(name, tmp_path):
    outside = _inlet(tmp_path / "flow.dat")
    path = _network(tmp_path / "net", name.format(abs=outside))
    with pytest.raises(NetworkError, match="outside the network's folder.*allow_outside_paths"):
        load_network(path)
    assert len(load_network(path, allow_outside_paths=True).inflow.t) > 10


def test_a_link_out_of_the_folder_is_refused(tmp_path):
    outside = _inlet(tmp_path / "flow.dat")
    path = _network(tmp_path / "net", "flow_link.dat")
    (tmp_path / "net" / "flow_link.dat").symlink_to(outside)
    with pytest.raises(NetworkError, match="outside the network's folder"):
        load_network(path)


def test_a_same_named_file_inside_is_used_instead_of_the_outside_path(tmp_path):
    # openBF files often carry the path they were written with; the file beside them wins
    _inlet(tmp_path / "flow.dat")
    path = _network(tmp_path / "net", "../flow.dat")
    _inlet(tmp_path / "net" / "flow.dat")
    assert len(load_network(path).inflow.t) > 10


def test_an_unreadable_inlet_is_named_without_its_contents(tmp_path):
    path = _network(tmp_path / "net", "flow.dat")
    (tmp_path / "net" / "flow.dat").write_text("SECRET-TOKEN-42 hunter2\n1 2\n")
    with pytest.raises(NetworkError) as info:
        load_network(path)
    message = str(info.value)
    assert "flow.dat" in message and "two numeric columns" in message
    assert "SECRET" not in message and "hunter2" not in message
