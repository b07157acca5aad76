"""The ``chaosrunner`` command line: thin — parse, call one engine function, print, exit.

Each command group lives in its own module with a ``register(app)`` function. Modules import only
typer at the top; engine modules (chaoslib, boto3, pandas via prometheus-api-client…) are imported
inside the commands so ``chaosrunner --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os

# Rich help rendering costs ~0.5 s per invocation; plain click help keeps `--help` fast. The live
# view of a run still uses rich directly. Set TYPER_USE_RICH=1 to get typer's rich help back.
os.environ.setdefault("TYPER_USE_RICH", "0")

import typer  # noqa: E402

from chaosrunner.core.verdict import EXIT_CODES_HELP

COMMAND_MODULES = (
    "chaosrunner.cli.journal",
    "chaosrunner.cli.experiment",
    "chaosrunner.cli.schedule",
    "chaosrunner.cli.safety",
    "chaosrunner.cli.recover",
    "chaosrunner.cli.sandbox",
)

app = typer.Typer(
    name="chaosrunner",
    help="Error-budget aware chaos engineering on Chaos Toolkit.\n\n" + EXIT_CODES_HELP,
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    app()
