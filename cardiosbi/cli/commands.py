"""The table of CLI commands: what each does, its config, its arguments and its handler.

A handler is ``"module:function"``, imported only when its command runs, so ``cardiosbi --help``
stays fast. A command whose handler module does not exist yet is not built: it exits non-zero
with "not available yet" and never prints placeholder output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Option:
    """A ``--flag VALUE`` that sets config key ``key`` (a shortcut for ``key=VALUE``)."""

    flag: str
    key: str
    help: str
    switch: bool = False  # a flag without a value that sets ``key=true``


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    description: str
    config: str
    handler: str
    positionals: tuple[tuple[str, str, str], ...] = ()  # (name, config key, help)
    options: tuple[Option, ...] = field(default_factory=tuple)
    issue: int | None = None
    page_suffixes: tuple[str, ...] = ()  # ``out`` may name a file with one of these suffixes

    @property
    def available(self) -> bool:
        """True once the module that implements the command exists.

        Looked up on disk, not with ``importlib.util.find_spec``: that imports the parent
        packages (torch, lightning), which made ``cardiosbi --help`` take 5-15 s.
        """
        base = _PACKAGE_ROOT.joinpath(*self.handler.split(":")[0].split("."))
        return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


_OUT = Option("--out", "out", "output folder")
_DEVICE = Option("--device", "device", "cpu, cuda or auto")

COMMANDS: dict[str, Command] = {
    c.name: c
    for c in [
        Command(
            "simulate", "simulate a labelled training dataset (Zarr store)",
            "Draw parameters from the prior, run the hemodynamics and PPG simulators with the "
            "measurement model, and write a sharded, resumable Zarr store.",
            "simulate", "cardiosbi.datasets.cli:simulate", options=(_OUT, _DEVICE), issue=4,
        ),
        Command(
            "train", "train a neural posterior estimator",
            "Train an NPE (embedding network + normalizing flow) on a simulated dataset and save "
            "a self-describing posterior file.",
            "train", "cardiosbi.inference.cli:train", options=(_OUT, _DEVICE), issue=5,
        ),
        Command(
            "calibrate", "calibrate a posterior on labelled real recordings (RoPE)",
            "Fine-tune a real-data encoder and solve optimal transport against simulations so "
            "the posterior stays calibrated on real data.",
            "calibrate", "cardiosbi.calibration.cli:calibrate", options=(_OUT, _DEVICE), issue=7,
        ),
        Command(
            "infer", "infer biomarkers from recordings",
            "Load recordings (WFDB, .vital, CSV), preprocess them into windows, apply a posterior "
            "and write per-window biomarker estimates with credible intervals.",
            "infer", "cardiosbi.cli.infer:infer", positionals=(("input", "input", "recording file or folder"),),
            options=(_OUT, Option("--posterior", "posterior", "posterior file")), issue=8,
        ),
        Command(
            "train-hybrid", "train the hybrid PPG model (CVAE PPG->APW + APW posterior)",
            "Cut and screen paired PPG/arterial-pressure windows from real recordings (the same "
            "window and quality code as `infer`; every window's reason in pairs.csv), train a "
            "conditional VAE from PPG to arterial pressure on them, and compose it with an APW "
            "posterior into one posterior file. A re-run into the same folder resumes.",
            "train_hybrid", "cardiosbi.hybrid.cli:train",
            positionals=(("records...", "records", "folders, globs or list files of recordings "
                          "with PPG and ABP"),),
            options=(_OUT, _DEVICE, Option("--apw-posterior", "apw_posterior",
                                           "APW posterior to compose with (apw or a file)")),
            issue=15,
        ),
        Command(
            "evaluate", "evaluate a posterior on held-out simulations",
            "Coverage, SBC, TARP, calibration error and accuracy of a posterior on a test split.",
            "evaluate", "cardiosbi.diagnostics.cli:evaluate", options=(_OUT,), issue=5,
        ),
        Command(
            "report", "write an HTML report of an inference run",
            "Render waveforms, detected beats, biomarker posteriors over time and the quality "
            "table of an `infer` run as HTML with figures.",
            "report", "cardiosbi.report.cli:report", positionals=(("run", "run", "folder written by `cardiosbi infer`"),),
            options=(_OUT,), issue=8, page_suffixes=(".html", ".htm"),
        ),
        Command(
            "quickstart", "run the default model on a shipped real recording",
            "Run the shipped default models on the shipped sample recording (v136s, PhysioNet/CinC 2015), print a "
            "summary table and write the HTML report; --from-scratch first simulates a small "
            "dataset and trains a small posterior on this machine.",
            "quickstart", "cardiosbi.cli.quickstart:run",
            options=(_OUT, Option("--from-scratch", "from_scratch",
                                  "simulate, train and infer with your own small model", switch=True)),
        ),
        Command(
            "run-network", "run an openBF-format arterial network to periodic steady state",
            "Simulate any openBF YAML network (with its inlet file) and write, per vessel, the "
            "last converged cycle as <vessel>_<P|Q|A|u>.csv plus a JSON summary.",
            "run_network", "cardiosbi.cli.run_network:run_network", positionals=(("network", "network", "openBF YAML network file"),),
            options=(_OUT, _DEVICE, Option("--dx", "dx", "cell size [m]"),
                     Option("--cfl", "cfl", "Courant number"),
                     Option("--cycles", "max_cycles", "cycle cap"),
                     Option("--tolerance", "tolerance", "convergence tolerance [mmHg]"),
                     Option("--dtype", "dtype", "float32 or float64")),
            issue=3,
        ),
        Command(
            "preprocess", "turn recordings into model-ready windows with a quality table",
            "Load recordings, clean them, detect beats, score quality and write a per-record "
            "windows table and a cohort summary.",
            "preprocess", "cardiosbi.cli.preprocess:preprocess", positionals=(("input", "input", "recording file or folder"),),
            options=(_OUT,), issue=6,
        ),
    ]
}
