"""The ``chaosrunner`` command line: thin — parse, call one engine function, print, exit.

Each command group lives in its own module with a ``register(app)`` function. Modules import only
typer at the top; engine modules (chaoslib, boto3, pandas via prometheus-api-client…) are imported
inside the commands so ``chaosrunner --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

# Rich help rendering costs ~0.5 s per invocation; plain click help keeps `--help` fast. The live
# view of a run still uses rich directly. Set TYPER_USE_RICH=1 to get typer's rich help back.
os.environ.setdefault("TYPER_USE_RICH", "0")

import typer  # noqa: E402
import typer.core  # noqa: E402

from chaosrunner import __version__
from chaosrunner.cli.state import HOME_HELP
from chaosrunner.core.verdict import EXIT_CODES_HELP, ExitCode

COMMAND_MODULES = (
    "chaosrunner.cli.journal",
    "chaosrunner.cli.experiment",
    "chaosrunner.cli.schedule",
    "chaosrunner.cli.safety",
    "chaosrunner.cli.recover",
    "chaosrunner.cli.state",
    "chaosrunner.cli.sandbox",
    "chaosrunner.cli.init",
)

app = typer.Typer(
    name="chaosrunner",
    help="Error-budget aware chaos engineering on Chaos Toolkit.\n\n" + EXIT_CODES_HELP,
    epilog=EXIT_CODES_HELP + "\n\n" + HOME_HELP,
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chaosrunner {__version__}")
        raise typer.Exit()


@app.callback()
def _every_command(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version"),
) -> None:
    """Before any command: the config file is valid; state an older version left in ./.chaosrunner is
    reported, never forgotten."""
    # imported here, not at the top: `chaosrunner --help` must not pay for pydantic and YAML (start-up)
    from chaosrunner.core.config import LEGACY_STATE, config_file

    config_file()
    if Path(LEGACY_STATE).is_dir():
        from chaosrunner.safety.status import legacy_state  # only when the directory exists (start-up)

        found = legacy_state()
        if found is not None:
            typer.echo(f"warning: {found.describe()}", err=True)


METAVARS = {"var": "KEY[:TYPE]=VALUE", "since": "DATE|AGE", "until": "DATE|AGE", "tz": "ZONE"}


class _PlainArgument(typer.core.TyperArgument):
    """An argument shown as click and man pages show one: ``SOURCE``, ``[RUN_IDS]...`` — not ``{SOURCE}``
    with ``<str>`` beside it."""

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _name_values(cmd: Any) -> Any:
    """Help names each value after what it is (``--journal-dir JOURNAL_DIR``, ``--since DATE|AGE``, ``SOURCE``),
    not after its Python type (``<path>``, ``<list[str]>``, typer's default)."""
    import click

    for p in cmd.params:
        if isinstance(p, typer.core.TyperArgument):
            p.__class__ = _PlainArgument
            p.metavar = p.metavar or (p.name or "value").upper()
        elif isinstance(p, typer.core.TyperOption | click.Option) and p.metavar is None and not p.is_flag \
                and not p.count:
            p.metavar = METAVARS.get(p.name or "", (p.name or "value").upper())
    for sub in getattr(cmd, "commands", {}).values():
        _name_values(sub)
    return cmd


class _Watched:
    """A stream that remembers whether anything was written (stdout) or what was (stderr, the last 8 kB)."""

    def __init__(self, stream: Any, keep: bool) -> None:
        self._stream, self._keep, self.wrote, self.text = stream, keep, False, ""

    def write(self, data: str) -> int:
        self.wrote = self.wrote or bool(data)
        if self._keep:
            self.text = (self.text + data)[-8192:]
        return int(self._stream.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main() -> None:
    """Every command; with ``--json``, exactly one JSON document on stdout whatever happens: the command's
    own, or ``{"error": …, "exit_code": N}`` when it failed without one (bad input, a usage error)."""
    import sys

    want_json = "--json" in sys.argv[1:]
    out = err = None
    if want_json:
        out, err = _Watched(sys.stdout, keep=False), _Watched(sys.stderr, keep=True)
        sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    code: int = 0
    try:
        _name_values(typer.main.get_command(app))(prog_name="chaosrunner")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        raise
    except Exception as e:
        from chaosrunner.core.validation import InvalidInput  # only on the error path (start-up)

        if not isinstance(e, InvalidInput):
            raise
        typer.echo(e.render(), err=True)  # bad input anywhere (a config file, a state file): file and key, exit 2
        code = int(ExitCode.INVALID_INPUT)
        raise SystemExit(code) from None
    finally:
        if out is not None and err is not None:
            sys.stdout, sys.stderr = out._stream, err._stream
            if code != 0 and not out.wrote:
                import json

                why = "\n".join(x for x in err.text.strip().splitlines() if x.strip()) or f"exit code {code}"
                print(json.dumps({"error": why, "exit_code": code}))
