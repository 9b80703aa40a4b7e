"""`cardiosbi infer RECORD posterior=<hybrid file>` then `cardiosbi report`: the page names the
hybrid model and shows, for a few windows, the PPG it read and the pressures it decoded next to
the record's arterial line (v136s has PPG, ABP and ECG)."""

from __future__ import annotations

import base64
import io
import shutil

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from cardiosbi.cli.main import run as run_cli
from cardiosbi.default_models import load_default_posterior
from cardiosbi.hybrid import CVAEConfig, HybridPosterior, PressureCVAE
from cardiosbi.report import render_report
from cardiosbi.report.model import DECODED_DRAWS, DECODED_WINDOWS, decoded_windows, run_model
from cardiosbi.report.run import load_run
from cardiosbi.report.waveforms import load_traces
from tests.conftest import REPO_ROOT
from tests.report.page import parse

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RECORD = REPO_ROOT / "cardiosbi" / "assets" / "samples" / "v136s"
HYBRID_LABEL = "hybrid (PPG → pressure → APW posterior)"
DECODED_HEADING = "Decoded arterial pressure (hybrid model)"


@pytest.fixture(scope="module")
def hybrid_file(tmp_path_factory):
    torch.manual_seed(0)
    cvae = PressureCVAE(1000, CVAEConfig(channels=[4, 8], latent_dim=2, hidden=16),
                        apw_mean=85.0, apw_std=20.0)
    path = tmp_path_factory.mktemp("model") / "hybrid.pt"
    HybridPosterior(cvae, load_default_posterior("apw"), n_apw=2).save(path)
    return path


@pytest.fixture(scope="module")
def infer_run(tmp_path_factory, hybrid_file):
    out = tmp_path_factory.mktemp("infer") / "run"
    assert run_cli(["infer", str(RECORD), f"posterior={hybrid_file}", "--out", str(out),
                    "n_samples=20"]) == 0
    assert run_cli(["report", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def page(infer_run):
    return parse((infer_run / "report.html").read_text())


def decoded_image(page) -> Image.Image:
    (image,) = [i for i in page.images if "decoded from it" in i["alt"]]
    picture = Image.open(io.BytesIO(base64.b64decode(image["src"].split(",", 1)[1])))
    picture.load()
    return picture


def test_the_page_names_the_hybrid_model(page):
    provenance = dict(row[:2] for row in page.tables["table-1"])
    assert HYBRID_LABEL in provenance["Model"]
    assert provenance["Model"].endswith("the APW posterior on radial/P")
    (note,) = page.classed_text["model-note"]
    assert "decodes each PPG window" in note


def test_the_page_shows_decoded_pressures_beside_the_arterial_line(page):
    assert DECODED_HEADING in page.headings
    picture = decoded_image(page)
    assert picture.format == "PNG" and picture.width >= 600
    assert len(picture.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50
    (image,) = [i for i in page.images if "decoded from it" in i["alt"]]
    assert f"{DECODED_WINDOWS} window(s), with the measured ABP" in image["alt"]


def test_decoded_windows_are_the_models_inputs_and_seeded(infer_run):
    run = load_run(infer_run)
    model = run_model(run)
    assert model.is_hybrid
    traces, _ = load_traces(RECORD.with_suffix(".hea"), run.config, 300.0)
    first, again = (decoded_windows(run, "v136s", model.posterior, traces, seed=0)
                    for _ in range(2))
    assert len(first) == DECODED_WINDOWS
    with np.load(infer_run / "preprocess" / "windows" / "v136s.npz") as arrays:
        starts = arrays["start_s"][:DECODED_WINDOWS]
    for window, repeat, start in zip(first, again, starts, strict=True):
        assert window.start_s == start and window.decoded.shape == (DECODED_DRAWS, 1000)
        np.testing.assert_array_equal(window.decoded, repeat.decoded)
        assert abs(window.ppg.mean()) < 1e-4 and abs(window.ppg.std() - 1) < 1e-3
        # the measured arterial line over the same seconds, in mmHg
        assert window.abp is not None and window.abp_times[0] >= window.times[0]
        assert window.abp_times[-1] <= window.times[-1] and 30 < np.nanmedian(window.abp) < 200


def test_a_run_whose_model_file_moved_still_renders(infer_run, tmp_path):
    moved = tmp_path / "run"
    shutil.copytree(infer_run, moved)
    config = yaml.safe_load((moved / "config.yaml").read_text())
    config["posterior"] = str(tmp_path / "elsewhere" / "hybrid.pt")
    (moved / "config.yaml").write_text(yaml.safe_dump(config))
    page = parse(render_report(moved).read_text())
    provenance = dict(row[:2] for row in page.tables["table-1"])
    assert "not found from here" in provenance["Model"]
    assert DECODED_HEADING not in page.headings and "Biomarker posteriors over time" in page.headings
