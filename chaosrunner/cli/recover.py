"""`recover`: revert by hand the faults a dead run left open (the watchdog does it on its own)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def recover(
        json_output: bool = typer.Option(False, "--json", help="print the outcomes as JSON"),
        undo_timeout: float = typer.Option(30.0, "--undo-timeout", help="seconds allowed per undo", min=0.1),
    ) -> None:
        """Revert open ledger entries whose run is gone and mark their journals.

        Runs whose process is still alive are left to their runner and watchdog. Exit 0 when nothing is
        left open by a dead run, 5 when an undo failed (a fault may still be in place).
        """
        import json

        from chaosrunner.core.storage import state_dir
        from chaosrunner.core.verdict import ExitCode
        from chaosrunner.faults.ledger import Ledger
        from chaosrunner.faults.recovery import recover_orphans

        outcomes = recover_orphans(timeout_s=undo_timeout, recovered_by="recover")
        still_open = Ledger(state_dir()).open_markers()
        failed = [o for o in outcomes if not o.ok]
        if json_output:
            typer.echo(
                json.dumps(
                    {
                        "reverted": [o.__dict__ | {"ok": o.ok} for o in outcomes],
                        "failed": len(failed),
                        "open_entries_of_live_runs": len(still_open),
                    },
                    indent=2,
                )
            )
        elif not outcomes:
            typer.echo("nothing to recover: no open fault belongs to a dead run")
        else:
            for o in outcomes:
                line = f"{o.outcome:12} {o.fault} on {o.target} (run {o.run_id}, {o.seconds:.3f} s)"
                typer.echo(line + (f": {o.detail}" if o.detail else ""))
        raise typer.Exit(int(ExitCode.ROLLBACK_FAILED) if failed else 0)
