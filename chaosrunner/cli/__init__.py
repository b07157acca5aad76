"""The ``chaosrunner`` command line: thin — parse, call one engine function, print, exit.

Each command group lives in its own module with a ``register(app)`` function. Modules import only
click at the top; engine modules (chaoslib, boto3, pandas via prometheus-api-client…) are imported
inside the commands so ``chaosrunner --help`` stays fast.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click

from chaosrunner import __version__
from chaosrunner.cli.command import Group, install_completion, show_completion
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


@click.group(
    "chaosrunner",
    cls=Group,
    help="Error-budget aware chaos engineering on Chaos Toolkit.\n\n" + EXIT_CODES_HELP,
    epilog=EXIT_CODES_HELP + "\n\n" + HOME_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="chaosrunner", message="%(prog)s %(version)s",
                      help="print the version")
@click.option("--install-completion", is_flag=True, expose_value=False, is_eager=True, callback=install_completion,
              help="install completion for the current shell ($SHELL: bash, zsh or fish)")
@click.option("--show-completion", is_flag=True, expose_value=False, is_eager=True, callback=show_completion,
              help="show completion for the current shell, to copy it or customize the installation")
def app() -> None:
    """Before any command: the config file is valid; state an older version left in ./.chaosrunner is
    reported, never forgotten."""
    # imported here, not at the top: `chaosrunner --help` must not pay for pydantic and YAML (start-up)
    from chaosrunner.core.config import LEGACY_STATE, config_file

    config_file()
    if Path(LEGACY_STATE).is_dir():
        from chaosrunner.safety.status import legacy_state  # only when the directory exists (start-up)

        found = legacy_state()
        if found is not None:
            click.echo(f"warning: {found.describe()}", err=True)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


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
        app(prog_name="chaosrunner")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        raise
    except Exception as e:
        from chaosrunner.core.validation import InvalidInput  # only on the error path (start-up)

        if not isinstance(e, InvalidInput):
            raise
        click.echo(e.render(), err=True)  # bad input anywhere (a config file, a state file): file and key, exit 2
        code = int(ExitCode.INVALID_INPUT)
        raise SystemExit(code) from None
    finally:
        # The command is over: every object it made lives until the process exits, so the interpreter's
        # collections at exit would only walk them (~30 ms of a short command's ~0.25 s). Files are closed
        # by then; nothing here relies on a finalizer running at exit (start-up).
        import gc

        gc.freeze()
        if out is not None and err is not None:
            sys.stdout, sys.stderr = out._stream, err._stream
            if code != 0 and not out.wrote:
                import json

                why = "\n".join(x for x in err.text.strip().splitlines() if x.strip()) or f"exit code {code}"
                print(json.dumps({"error": why, "exit_code": code}))
