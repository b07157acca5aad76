"""The command line's building blocks on click: options whose values are named after what they are, and
shell completion.

click itself, not a layer over it: nothing is built per option at start-up (``chaosrunner run`` parses
its twenty options in well under a millisecond). Help shows defaults (``[default: cli]``), the positional
arguments with their help (click's ``Positional arguments:``), and each value named after what it is
(``--journal-dir JOURNAL_DIR``, ``--since DATE|AGE``), never after its Python type.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

METAVARS = {"var": "KEY[:TYPE]=VALUE", "since": "DATE|AGE", "until": "DATE|AGE", "tz": "ZONE"}

PATH = click.Path(path_type=Path)
"""A path argument or option, as given (no existence check: commands say what is missing, exit 2)."""


def option(*decls: str, **kw: Any) -> Callable[[Any], Any]:
    """``@option("--since", help="…")``: a click option whose value help names after it (``SINCE``, or
    :data:`METAVARS`' name), with its default shown."""
    kw.setdefault("show_default", kw.get("default") != "")  # an empty default is said in the help text
    return click.option(*decls, cls=_Option, **kw)


class _Option(click.Option):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        if self.metavar is None and not self.is_flag and not self.count:
            self.metavar = METAVARS.get(self.name or "", (self.name or "value").upper())


class Group(click.Group):
    """A command group that shows its help when given no command, and lists its commands in the order they
    were registered — the order a user meets them (validate, plan, run…), not the alphabet's — with the
    command groups (journal, schedule…) after them."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        kw.setdefault("no_args_is_help", True)
        super().__init__(*args, **kw)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands, key=lambda name: isinstance(self.commands[name], click.Group))


def exit_with(code: int) -> click.exceptions.Exit:
    """The exception that ends a command with ``code`` (``raise exit_with(2)``)."""
    return click.exceptions.Exit(int(code))


# --- shell completion: click's own scripts, installed where each shell looks for them ------------------

COMPLETE_VAR = "_CHAOSRUNNER_COMPLETE"
_INSTALL = {
    "bash": (".bash_completions/chaosrunner.sh", ".bashrc", "source {path}"),
    "zsh": (".zfunc/_chaosrunner", ".zshrc", "fpath+=~/.zfunc; autoload -Uz compinit; compinit"),
    "fish": (".config/fish/completions/chaosrunner.fish", None, None),
}


def _shell() -> str:
    shell = Path(os.environ.get("SHELL", "")).name
    if shell not in _INSTALL:
        raise click.UsageError(f"shell completion: $SHELL is {shell or 'unset'}; supported: bash, zsh, fish")
    return shell


def completion_script(cli: click.Command, shell: str) -> str:
    from click.shell_completion import get_completion_class

    comp_cls = get_completion_class(shell)
    assert comp_cls is not None  # _INSTALL names only the shells click completes
    return str(comp_cls(cli, {}, "chaosrunner", COMPLETE_VAR).source())


def show_completion(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(completion_script(ctx.command, _shell()))
        ctx.exit(0)


def install_completion(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """Write the completion script for ``$SHELL`` where that shell loads it, and the line its rc file
    needs (added once)."""
    if not value or ctx.resilient_parsing:
        return
    shell = _shell()
    script_rel, rc_rel, line = _INSTALL[shell]
    home = Path.home()
    script = home / script_rel
    try:
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(completion_script(ctx.command, shell))
        if rc_rel is not None and line is not None:
            rc = home / rc_rel
            wanted = line.format(path=script)
            if wanted not in (rc.read_text() if rc.exists() else ""):
                with rc.open("a") as f:
                    f.write(f"\n{wanted}\n")
    except OSError as e:  # a read-only or foreign home: say where, exit 1, no traceback
        raise click.ClickException(f"shell completion not installed: {e.filename or script}: {e.strerror}") from None
    click.echo(f"{shell} completion installed in {script}; open a new shell to use it")
    ctx.exit(0)
