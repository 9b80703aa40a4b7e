"""Entry point of the ``cardiosbi`` command: argument parsing, config composition, dispatch.

Usage: ``cardiosbi [--verbose] <command> [positionals] [--flags] [key=value overrides]``.
Configs are composed with hydra from the package's base configs (``cardiosbi/conf``) and the
repository's ``experiments/`` folder (select one with ``experiment=NAME``). A
:class:`~cardiosbi.errors.CardiosbiError` ends the command with its exit code (2 for user
errors) and one line on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cardiosbi.cli.commands import COMMANDS, Command
from cardiosbi.errors import CardiosbiError, ConfigError, InputFileError, NotAvailableError

log = logging.getLogger("cardiosbi.cli")

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def experiment_dirs() -> list[Path]:
    """Folders searched for ``experiment=NAME`` configs: ./experiments, then the checkout's."""
    candidates = [Path.cwd() / "experiments", Path(__file__).resolve().parents[2] / "experiments"]
    found: list[Path] = []
    for path in candidates:
        if (path / "experiment").is_dir() and path.resolve() not in found:
            found.append(path.resolve())
    return found


def compose(config_name: str, overrides: Sequence[str] = ()):
    """Compose ``config_name`` with hydra overrides; errors become :class:`ConfigError`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    search = [f"file://{d}" for d in experiment_dirs()]
    extra = [f"hydra.searchpath=[{','.join(search)}]"] if search else []
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return hydra_compose(config_name=config_name, overrides=[*extra, *overrides])
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_config_message(exc)) from None


def checked_config(command: Command, overrides: Sequence[str]):
    """Compose the command's config and check the user's values before any work starts.

    Values are checked against the types of the defaults they replace (see
    :func:`~cardiosbi.utils.config.check_value_types`) and the output location is checked
    to be a writable folder, so a typo never ends in a traceback or a half-written folder.
    """
    from omegaconf import OmegaConf

    from cardiosbi.utils.config import check_value_types

    cfg = compose(command.config, overrides)
    keys = [_override_key(item) for item in overrides]
    values = [key for key in keys if key and not _is_group(key)]
    if values:
        groups = [item for item, key in zip(overrides, keys, strict=True) if key and _is_group(key)]
        check_value_types(cfg, compose(command.config, groups), values)
    for name, key, _help in command.positionals:
        if name.endswith("...") and not OmegaConf.select(cfg, key, default=None):
            raise ConfigError(f"{key} is empty; give at least one {name[:-3]} source")
    if "out" in cfg and cfg.out is not None:
        check_output(str(cfg.out), command.page_suffixes)
    return cfg


def _override_key(item: str) -> str | None:
    """The config key an override sets (None for a deletion ``~key``)."""
    if item.startswith("~"):
        return None
    return item.split("=", 1)[0].lstrip("+")


def _is_group(key: str) -> bool:
    """A hydra config group (``data=zarr``, ``experiment=NAME``), not a value."""
    return key == "experiment" or key.startswith("hydra.") or (CONF_DIR / key.replace(".", "/")).is_dir()


def check_output(out: str, page_suffixes: Sequence[str] = ()) -> None:
    """``out`` must be a folder (existing or new) that can be written, or a page file.

    Checked before the command does anything, so a wrong ``--out`` is one line and never a
    record logged as failed. The folder is not created here.
    """
    if out.strip() == "":
        raise ConfigError("out is empty; give an output folder (--out DIR)")
    path = Path(out).expanduser()
    if path.suffix.lower() in page_suffixes:
        if path.is_dir():
            raise InputFileError(f"out {path} is a folder, not a {path.suffix} page")
        path = path.parent
    elif path.exists() and not path.is_dir():
        raise InputFileError(f"out {path} is an existing file; give a folder (--out DIR)")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise InputFileError(f"out {path} cannot be created: {existing} is a file")
    if not _writable(existing):
        raise InputFileError(f"out {path} is not writable ({existing} is read-only)")


def _writable(folder: Path) -> bool:
    """Try to write there: permission bits do not tell (root, read-only mounts, ACLs)."""
    try:
        handle, name = tempfile.mkstemp(dir=folder, prefix=".cardiosbi-write-check-")
    except OSError:
        return False
    os.close(handle)
    os.unlink(name)
    return True


def _config_message(exc: Exception) -> str:
    """One line for a hydra/omegaconf error; unknown keys are named as such."""
    message = " ".join(str(exc).split())
    unknown = re.match(r"Could not override '([^']+)'", message)
    if unknown:
        return f"unknown config key {unknown.group(1)!r} (check the spelling; see --help)"
    return f"config error: {message}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cardiosbi",
        description="Infer cardiovascular biomarkers with honest uncertainty from arterial "
        "pressure and PPG waveforms. Every command takes hydra overrides (key=value).",
        epilog="Example: cardiosbi train trainer.max_epochs=5 experiment=default_model",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for command in COMMANDS.values():
        _add_command(sub, command)
    return parser


def _add_command(sub, command: Command) -> None:
    status = "" if command.available else f" [not available yet; issue #{command.issue}]"
    p = sub.add_parser(
        command.name, help=command.summary + status, description=command.description + status,
        epilog=f"Overrides: key=value for any key of the '{command.config}' config "
        f"(see cardiosbi/conf/{command.config}.yaml); experiment=NAME selects a study config.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    for name, _key, help_text in command.positionals:
        if name.endswith("..."):  # one or more values, passed on as a list
            p.add_argument(name, nargs="+", metavar=name[:-3].upper(), help=help_text)
        else:
            p.add_argument(name, help=help_text)
    for option in command.options:
        if option.switch:
            p.add_argument(option.flag, dest=option.key, action="store_const", const="true",
                           help=option.help)
        else:
            p.add_argument(option.flag, dest=option.key, metavar=option.key.upper(), help=option.help)
    p.add_argument("overrides", nargs="*", metavar="key=value", help="hydra config overrides")


def _overrides(command: Command, args: argparse.Namespace) -> list[str]:
    overrides = []
    for name, key, _help in command.positionals:
        value = getattr(args, name)
        if isinstance(value, list):
            # argparse hands `key=value` overrides that follow the last source to this list
            moved = [v for v in value if _OVERRIDE.match(v)]
            args.overrides = [*moved, *args.overrides]
            sources = [v for v in value if not _OVERRIDE.match(v)]
            if not sources:
                raise ConfigError(f"{name[:-3]}: give at least one source before the overrides")
            overrides.append(f"{key}=[{','.join(_quote(v) for v in sources)}]")
        else:
            overrides.append(f"{key}={_quote(value)}")
    for option in command.options:
        value = getattr(args, option.key)
        if value is not None:
            overrides.append(f"{option.key}={_quote(value)}")
    for item in args.overrides:
        if "=" not in item:
            raise ConfigError(f"expected key=value override, got {item!r}")
    return overrides + list(args.overrides)


_OVERRIDE = re.compile(r"^[+~]?[A-Za-z_][\w.]*=")


def _quote(value: str) -> str:
    """Quote a value so paths with special characters survive hydra's override grammar."""
    if any(ch in value for ch in " ,[]{}()=:'\"\\$*?") or value == "":
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return value


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (errors a user can fix → 2, one line on stderr)."""
    from cardiosbi.utils.logging import configure

    parser = _parser()
    args = _parse(parser, argv)
    if args.command is None:
        parser.print_help()
        return 0
    configure(verbose=args.verbose)
    command = COMMANDS[args.command]
    try:
        return _dispatch(command, args)
    except CardiosbiError as exc:
        print(f"cardiosbi {command.name}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"cardiosbi {command.name}: interrupted", file=sys.stderr)
        return 130


def execute(argv: Sequence[str]) -> int:
    """Run one command in-process for a command that chains others (``quickstart``).

    Unlike :func:`run`, a user error propagates as its :class:`CardiosbiError`, so the calling
    command reports it once, on its own line.
    """
    args = _parse(_parser(), argv)
    return _dispatch(COMMANDS[args.command], args)


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    # Overrides may follow options (`preprocess REC --out DIR key=value`); argparse leaves
    # those as unrecognised, so they are collected here and only real unknown flags fail.
    args, extra = parser.parse_known_args(argv)
    flags = [item for item in extra if item.startswith("-")]
    if flags:
        parser.error(f"unrecognized arguments: {' '.join(flags)}")
    if extra:
        args.overrides = [*getattr(args, "overrides", []), *extra]
    return args


def _dispatch(command: Command, args: argparse.Namespace) -> int:
    cfg = checked_config(command, _overrides(command, args))
    if not command.available:
        raise NotAvailableError(
            f"`cardiosbi {command.name}` is not available yet (tracked in issue #{command.issue})"
        )
    module_name, function_name = command.handler.split(":")
    handler = getattr(importlib.import_module(module_name), function_name)
    return int(handler(cfg) or 0)


def main() -> None:
    sys.exit(run())
