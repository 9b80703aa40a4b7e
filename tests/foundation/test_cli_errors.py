"""CLI-level user errors: one line on stderr, exit 2, nothing written; and a --help that does not
import the heavy libraries."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cardiosbi.cli.commands import COMMANDS
from cardiosbi.cli.main import check_output, run
from cardiosbi.errors import CardiosbiError

INFER = ["infer", "{repo}/tests/data/real/041s/041s.hea",
         "posterior={repo}/tests/data/infer/hr_sv_windkessel_posterior.pt"]


def _one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"cardiosbi {command}: error:") and "Traceback" not in err
    return err


def test_building_the_parser_imports_no_heavy_library(repo_root):
    # listing the commands must not import torch, lightning or hydra (--help took 5-15 s)
    code = ("import sys, cardiosbi.cli.main as m; m._parser(); "
            "print(sorted(n for n in ('torch', 'lightning', 'hydra', 'omegaconf', 'pandas') "
            "if n in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=repo_root, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("argv", [["--help"], ["infer", "--help"]])
def test_help_in_a_fresh_process_imports_no_heavy_library(argv, repo_root):
    code = ("import sys, runpy; sys.argv = ['cardiosbi', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('cardiosbi', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('HEAVY', sorted(n for n in ('torch', 'lightning') if n in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                            cwd=repo_root, check=True)
    assert "usage: cardiosbi" in result.stdout and "HEAVY []" in result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_non_numeric_seed_is_one_line_for_every_command(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    positionals = ["x"] * len(COMMANDS[name].positionals)
    assert run([name, *positionals, "seed=abc"]) == 2
    assert "seed must be an integer, got 'abc'" in _one_error_line(capsys, name)


@pytest.mark.parametrize(("argv", "message"), [
    (["simulate", "n=abc"], "n must be an integer, got 'abc'"),
    (["simulate", "n=[1,2]"], "n must be an integer, got [1, 2]"),
    (["simulate", "plots=maybe"], "plots must be true or false"),
    (["train", "data.num_simulations=1e400"], "must be an integer, got inf"),
    ([*INFER, "levels=[abc]"], "levels must be a list of finite numbers"),
    (["preprocess", "x", "window=3"], "window must be a group of settings"),
    (["run-network", "x", "dx=nan"], "dx must be a finite number"),
    (["quickstart", "n_samples=0"], "n_samples must be >= 1, got 0"),
    (["quickstart", "scratch.parameters=[]"], "scratch.parameters is empty"),
    (["quickstart", "record=''"], "record is empty"),
])
def test_bad_value_is_one_line_before_any_work(argv, message, tmp_path, monkeypatch, capsys,
                                                repo_root):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "o"
    assert run([a.format(repo=repo_root) for a in argv] + ["--out", str(out)]) == 2
    assert message in _one_error_line(capsys, argv[0])
    assert not out.exists()


def test_out_naming_an_existing_file_fails_before_the_first_record(tmp_path, monkeypatch,
                                                                  capsys, repo_root):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "taken.txt"
    target.write_text("keep me")
    argv = [a.format(repo=repo_root) for a in INFER]
    assert run([*argv, "--out", str(target)]) == 2
    err = _one_error_line(capsys, "infer")  # one line: no record is logged as failing
    assert "is an existing file" in err
    assert target.read_text() == "keep me"


def test_out_below_a_file_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f").write_text("")
    assert run(["simulate", "--out", str(tmp_path / "f" / "sub")]) == 2
    assert "is a file" in _one_error_line(capsys, "simulate")


def test_empty_out_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run(["train", "out=''"]) == 2
    assert "out is empty" in _one_error_line(capsys, "train")


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write to (root ignores permission bits: use /sys then)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys")):
        try:
            handle, name = tempfile.mkstemp(dir=candidate)
        except OSError:
            return candidate
        os.close(handle)
        os.unlink(name)
    pytest.skip("no read-only folder available to this process")


def test_out_in_a_read_only_folder_is_refused(tmp_path, monkeypatch, capsys, repo_root):
    monkeypatch.chdir(tmp_path)
    locked = _read_only_folder(tmp_path)
    argv = [a.format(repo=repo_root) for a in INFER]
    try:
        assert run([*argv, "--out", str(locked / "run")]) == 2
        assert "is not writable" in _one_error_line(capsys, "infer")
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_report_out_may_name_a_page_but_not_a_folder_page(tmp_path):
    check_output(str(tmp_path / "page.html"), (".html",))  # a new page in a writable folder
    (tmp_path / "dir.html").mkdir()
    with pytest.raises(CardiosbiError, match="is a folder"):
        check_output(str(tmp_path / "dir.html"), (".html",))
    with pytest.raises(CardiosbiError, match="existing file"):
        (tmp_path / "page.txt").write_text("")
        check_output(str(tmp_path / "page.txt"), (".html",))


def test_unstable_inflow_writes_nothing_and_exits_2(tmp_path, monkeypatch, capsys, repo_root):
    source = repo_root / "tests/data/hemodynamics/boileau2015/cca"
    (tmp_path / "cca.yaml").write_text((source / "cca.yaml").read_text())
    rows = [line.split() for line in (source / "cca_inlet.dat").read_text().splitlines()]
    (tmp_path / "cca_inlet.dat").write_text(  # 10^4 x the physiological flow: blows up
        "".join(f"{t} {float(q) * 1e4:.6e}\n" for t, q in rows))
    monkeypatch.chdir(tmp_path)
    code = run(["run-network", "cca.yaml", "--out", "o", "--dx", "0.004", "--cycles", "1",
                "compile=false"])
    captured = capsys.readouterr()
    assert code == 2
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "simulation failed" in errors[0] and "nothing written" in errors[0]
    assert "Traceback" not in captured.err and "RuntimeWarning" not in captured.err
    assert "wrote" not in captured.out and not (tmp_path / "o").exists()


def test_inlet_file_outside_the_network_folder_is_refused(tmp_path, monkeypatch, capsys,
                                                          repo_root):
    source = repo_root / "tests/data/hemodynamics/boileau2015/cca"
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "cca.yaml").write_text(
        (source / "cca.yaml").read_text().replace('"cca_inlet.dat"', '"../cca_inlet.dat"'))
    (tmp_path / "cca_inlet.dat").write_text((source / "cca_inlet.dat").read_text())
    monkeypatch.chdir(tmp_path)
    assert run(["run-network", "net/cca.yaml", "--out", "o", "--cycles", "1"]) == 2
    assert "allow_outside_paths=true" in _one_error_line(capsys, "run-network")
    assert not (tmp_path / "o").exists()
