"""The CLI: help texts, exit codes, one-line user errors, and a tiny run of every command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cardiosbi.cli.commands import COMMANDS
from cardiosbi.cli.main import run
from tests.foundation.cli_smoke_cases import MISSING_INPUT_CASES, SMOKE_CASES


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help_explains_command(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run([name, "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert COMMANDS[name].description.split(".")[0].split()[0] in out
    assert "key=value" in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_unknown_config_key_exits_2_with_one_line(name, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    positionals = ["x"] * len(COMMANDS[name].positionals)
    assert run([name, *positionals, "no_such_key=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown config key 'no_such_key'" in err


def test_override_without_equals_is_a_user_error(capsys):
    assert run(["quickstart", "oops"]) == 2
    assert "key=value" in capsys.readouterr().err


BUILT = {"simulate", "train", "evaluate", "calibrate", "infer", "quickstart", "run-network",
         "preprocess", "report", "train-hybrid"}


def test_built_commands_stay_available():
    # availability is "the handler module exists": a renamed module must fail here, not skip
    assert {n for n, c in COMMANDS.items() if c.available} == BUILT


def test_every_available_command_has_a_smoke_case():
    available = {n for n, c in COMMANDS.items() if c.available}
    assert available <= set(SMOKE_CASES), f"add a tiny run to cli_smoke_cases.py: {available - set(SMOKE_CASES)}"


@pytest.mark.parametrize("name", sorted(SMOKE_CASES))
def test_available_command_runs_at_tiny_size(name, tmp_path, monkeypatch, repo_root):
    if not COMMANDS[name].available:
        pytest.skip(f"{name} is not built yet")
    monkeypatch.chdir(tmp_path)
    args, check = SMOKE_CASES[name]
    argv = [a.format(tmp=tmp_path, repo=repo_root) for a in args]
    assert run([name, *argv]) == 0
    check(tmp_path)


@pytest.mark.parametrize("name", sorted(MISSING_INPUT_CASES))
def test_missing_input_file_exits_2(name, tmp_path, monkeypatch, capsys, repo_root):
    if not COMMANDS[name].available:
        pytest.skip(f"{name} is not built yet")
    monkeypatch.chdir(tmp_path)
    argv = [a.format(tmp=tmp_path, repo=repo_root) for a in MISSING_INPUT_CASES[name]]
    assert run([name, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not found" in err


def test_console_script_exit_code_and_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cardiosbi", "quickstart", "no_such_key=1"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_switch_flag_sets_its_key_and_takes_no_value():
    from cardiosbi.cli.main import _overrides, _parser

    args = _parser().parse_args(["quickstart", "--from-scratch", "n_samples=5"])
    assert _overrides(COMMANDS["quickstart"], args) == ["from_scratch=true", "n_samples=5"]
    plain = _parser().parse_args(["quickstart"])
    assert _overrides(COMMANDS["quickstart"], plain) == []
