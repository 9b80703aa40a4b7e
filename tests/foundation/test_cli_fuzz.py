"""Fuzz the CLI's key=value inputs: a bad value for any key of any command ends with exit 2, one
line on stderr (``cardiosbi <cmd>: error: ...``), no traceback and nothing written.

Two parts: hypothesis draws (command, key, value of the wrong type) over every typed key of
every command's config, which must fail in the CLI's config check before any work; and a
seeded table of values of the right type that a command must refuse up front (zero or negative
counts, empty strings, paths that do not exist, out-of-range settings).
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from cardiosbi.cli.commands import COMMANDS
from cardiosbi.cli.main import compose, run

REPO = Path(__file__).resolve().parents[2]
POSTERIOR = f"posterior={REPO}/tests/data/diagnostics/linear_gaussian_posterior.pt"
# Arguments that make each command valid apart from the value under test.
BASE = {
    "simulate": ["simulator=windkessel", "n=4", "shard_size=4", "plots=false"],
    "train": ["data.num_simulations=50", "trainer.max_epochs=1"],
    "evaluate": [POSTERIOR, "data.num_simulations=20"],
    "calibrate": [POSTERIOR, f"calibration={REPO}/tests/data/calibration/calibration.npz",
                  f"reference={REPO}/tests/data/calibration/reference.npz"],
    "infer": [f"{REPO}/tests/data/real/041s/041s.hea",
              f"posterior={REPO}/tests/data/infer/hr_sv_windkessel_posterior.pt"],
    "preprocess": [f"{REPO}/tests/data/real/041s/041s.hea"],
    "report": [f"{REPO}/tests/data/report/v136s_run"],
    "quickstart": ["n_samples=10"],
    "run-network": [f"{REPO}/tests/data/hemodynamics/boileau2015/cca/cca.yaml", "--cycles", "1",
                    "compile=false"],
    "train-hybrid": [f"{REPO}/tests/data/real/v292s.hea"],
}


def _run(argv: list[str]) -> tuple[int, str, list[Path]]:
    """Run in a fresh folder with ``out`` inside it: exit code, stderr, files left behind."""
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = run([*argv, f"out={folder}/o"] if not any(a.startswith("out=") for a in argv)
                       else argv)
        return code, err.getvalue(), list(Path(folder).iterdir())


def _assert_one_line_error(name: str, code: int, err: str, left: list[Path]) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cardiosbi {name}: error:"), err
    assert left == [], f"{name} wrote {left} before failing"


@cache
def typed_keys(name: str) -> tuple[tuple[str, object], ...]:
    """(key, default) of every leaf of the command's config that has a typed default."""
    command = COMMANDS[name]
    positional = {key for _n, key, _h in command.positionals}
    cfg = compose(command.config)
    leaves = []

    def walk(node, prefix: str) -> None:
        for key in node:
            child = node._get_node(key)
            path = f"{prefix}{key}"
            if OmegaConf.is_dict(child):
                walk(child, path + ".")
            elif path not in positional and path != "out" and not OmegaConf.is_missing(node, key):
                value = OmegaConf.to_container(child) if OmegaConf.is_list(child) else child._value()
                if value is not None:
                    leaves.append((path, value))

    walk(cfg, "")
    return tuple(leaves)


def _not_a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text.strip().lower() != "null"  # null is "unset", valid for many keys
    return False


# Free text: no `$` (an interpolation may resolve to a valid number) and never a number.
WORDS = st.text(alphabet=st.characters(codec="ascii", categories=("L", "N", "P", "S"),
                                       exclude_characters="$\\"),
                min_size=1, max_size=12).filter(_not_a_number)
NON_FINITE = st.sampled_from(["1e400", "-1e400", "nan", "inf"])
NOT_SCALAR = st.sampled_from(["[1,2]", "[a]", "{a: 1}", "[]"])


def bad_values(default: object) -> st.SearchStrategy[str]:
    """Values of the wrong type for a key whose default is ``default``."""
    if isinstance(default, bool):
        return st.one_of(WORDS.filter(lambda w: w.lower() not in ("true", "false")), NOT_SCALAR,
                         st.sampled_from(["1", "0.5"]))
    if isinstance(default, int):
        fractions = st.floats(0.01, 1e6).filter(lambda f: not f.is_integer()).map(repr)
        return st.one_of(WORDS, NON_FINITE, NOT_SCALAR, fractions, st.just("true"))
    if isinstance(default, float):
        return st.one_of(WORDS, NON_FINITE, NOT_SCALAR, st.just("false"))
    if isinstance(default, str):
        return st.sampled_from(["[1,2]", "[a,b]", "{a: 1}", "{}"])
    if isinstance(default, list) and default and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in default):
        return st.one_of(WORDS, st.sampled_from(["[abc]", "[1,abc]", "[1e400]", "[[1]]"]))
    return st.one_of(WORDS.filter(lambda w: not w.startswith(("[", "{"))),
                     st.sampled_from(["{a: 1}", "[[1]]"]))


@st.composite
def wrong_type_override(draw) -> tuple[str, str, str]:
    name = draw(st.sampled_from(sorted(COMMANDS)))
    key, default = draw(st.sampled_from(typed_keys(name)))
    return name, key, draw(bad_values(default))


def test_every_command_has_typed_keys_to_fuzz():
    assert all(len(typed_keys(name)) >= 3 for name in COMMANDS)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(wrong_type_override())
def test_wrong_type_value_is_one_line_and_exit_2(case):
    name, key, value = case
    code, err, left = _run([name, *BASE[name], f"{key}={value}"])
    _assert_one_line_error(name, code, err, left)


# Right type, wrong value: refused by the command before it reads or writes anything.
VALUE_CASES = [
    ("simulate", "n=-5"), ("simulate", "shard_size=0"), ("simulate", "oversample=-1"),
    ("simulate", "device=''"), ("simulate", "out=''"),
    ("train", "trainer.max_epochs=0"), ("train", "data.num_simulations=-1"),
    ("train", "model.ensemble_size=0"), ("train", "device=''"),
    ("evaluate", "diagnostics.n_samples=0"), ("evaluate", "posterior=/nonexistent/p.pt"),
    ("evaluate", "posterior=''"),
    ("calibrate", "calibration=/nonexistent/c.npz"), ("calibrate", "workers=0"),
    ("calibrate", "rope.transport.gamma=0"),
    ("infer", "n_samples=0"), ("infer", "workers=-1"), ("infer", "levels=[1.5]"),
    ("infer", "posterior=/nonexistent/p.pt"), ("infer", "input=/nonexistent/r.hea"),
    ("infer", "device=''"),
    ("preprocess", "workers=0"), ("preprocess", "window.window_s=0"),
    ("preprocess", "window.sampling_rate=-1"), ("preprocess", "format=''"),
    ("preprocess", "input=''"),
    ("report", "waveform_s=-1"), ("report", "run=/nonexistent/run"),
    ("quickstart", "n_samples=0"), ("quickstart", "scratch.n=-1"),
    ("quickstart", "record=/nonexistent/r"), ("quickstart", "record=''"),
    ("run-network", "dx=-1"), ("run-network", "cfl=2"), ("run-network", "tolerance=-1"),
    ("run-network", "dtype=float16"), ("run-network", "device=tpu"),
    ("run-network", "network=/nonexistent/n.yaml"),
    ("train-hybrid", "device=''"), ("train-hybrid", "records=[]"),
]


@pytest.mark.parametrize(("name", "override"), VALUE_CASES, ids=[f"{n}:{o}" for n, o in VALUE_CASES])
def test_out_of_range_value_is_one_line_and_exit_2(name, override):
    code, err, left = _run([name, *BASE[name], override])
    _assert_one_line_error(name, code, err, left)


def test_value_table_covers_every_command():
    assert {name for name, _ in VALUE_CASES} == set(COMMANDS)
