"""`halt`, `resume`: the kill switch from the command line."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def halt(
        reason: str = typer.Option(..., "--reason", help="why chaos is halted (shown on every refusal)"),
        as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Engage the kill switch: new runs are refused (exit 4) and running ones abort within 1 s."""
        from chaosrunner import killswitch

        if not reason.strip():
            typer.echo("halt: --reason: must not be empty", err=True)
            raise typer.Exit(2)
        state = killswitch.engage(reason)
        if as_json:
            typer.echo(json.dumps({"engaged": True, **state.__dict__, "path": str(killswitch.path())}))
        else:
            typer.echo(f"chaos halted: {state.reason} (kill switch at {killswitch.path()})")

    @app.command()
    def resume(as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
        """Release the kill switch: new runs are allowed again."""
        from chaosrunner import killswitch

        was = killswitch.release()
        if as_json:
            typer.echo(json.dumps({"engaged": False, "was_engaged": was}))
        else:
            typer.echo("chaos resumed" if was else "kill switch was not engaged")
