"""`recover` and `reaper`: finish the record of runs that are gone — revert what they left open and mark
their journals. ``recover`` is one pass by hand; ``reaper`` keeps doing it, as a host service."""

from __future__ import annotations

import json
import logging

import click

from chaosrunner.cli.command import Group, exit_with, option
from chaosrunner.cli.state import HOME_HELP


def register(app: Group) -> None:
    @app.command(epilog=HOME_HELP)
    @option("--json", "json_output", is_flag=True, default=False, help="print the outcomes as JSON")
    @option("--undo-timeout", type=click.FloatRange(min=0.1), default=30.0, help="seconds allowed per undo")
    @option("--fleet", "fleet_too", is_flag=True, default=False, help="also the open faults of other hosts' dead runs "
                                                              "(fleet: configured)")
    def recover(json_output: bool, undo_timeout: float, fleet_too: bool) -> None:
        """Revert open ledger entries whose run is gone and mark their journals.

        Runs whose process is still alive are left to their runner and watchdog. With --fleet, the faults
        other hosts' dead runs left open are reverted from here when their undo can run from anywhere (an
        API call), and listed with their host otherwise. Exit 0 when nothing is left open by a dead run, 5
        when an undo failed or a dead run's fault needs its own host (a fault may still be in place).

        \b
        Example: chaosrunner recover --json
        """
        # engine imports inside the command: `chaosrunner --help` does not pay for them (start-up)
        from chaosrunner.core.storage import state_dir
        from chaosrunner.core.verdict import ExitCode
        from chaosrunner.faults.ledger import Ledger
        from chaosrunner.faults.reaper import reap

        report = reap(kill_stale=False, timeout_s=undo_timeout, recovered_by="recover")
        outcomes = report.outcomes
        still_open = Ledger(state_dir()).open_markers()
        failed = len(report.failed)
        remote = None
        if fleet_too:
            from chaosrunner.core.validation import InvalidInput
            from chaosrunner.faults import fleet_ledger
            from chaosrunner.faults.fleet import fleet

            f = fleet()
            if f is None:
                raise InvalidInput("--fleet", [("", "no fleet configured (fleet: or $CHAOSRUNNER_FLEET)")])
            remote = fleet_ledger.recover_elsewhere(f, undo_timeout)
            failed += sum(not r["ok"] for r in remote.reverted) + len(remote.elsewhere)
        if json_output:
            click.echo(
                json.dumps(
                    {
                        "state_home": str(state_dir()),
                        "reverted": [o.__dict__ | {"ok": o.ok} for o in outcomes],
                        "runs_marked": report.runs,
                        "failed": failed,
                        "open_entries_of_live_runs": len(still_open),
                        **({"fleet": remote.__dict__} if remote is not None else {}),
                    },
                    indent=2,
                )
            )
        elif not outcomes and not report.runs and not (remote and (remote.reverted or remote.elsewhere)):
            click.echo("nothing to recover: no open fault or unfinished journal belongs to a dead run")
        else:
            for r in remote.reverted if remote else []:
                click.echo(f"{'undone' if r['ok'] else 'undo-failed':12} {r['fault']} on {r['target']} "
                           f"(run {r['run_id']} on {r['host']}): {r['detail']}")
            for r in remote.elsewhere if remote else []:
                click.echo(f"{'OPEN':12} {r['fault']} on {r['target']} (run {r['run_id']}): its undo must run on "
                           f"{r['host']} (`chaosrunner recover` there)")
            for o in outcomes:
                line = f"{o.outcome:12} {o.fault} on {o.target} (run {o.run_id}, {o.seconds:.3f} s)"
                click.echo(line + (f": {o.detail}" if o.detail else ""))
            for run_id in report.runs:
                click.echo(f"journal of run {run_id} marked: its runner is gone")
        raise exit_with(int(ExitCode.ROLLBACK_FAILED) if failed else 0)

    @app.command(epilog=HOME_HELP)
    @option("--interval", type=click.FloatRange(min=0.1), default=1.0, help="seconds between passes")
    def reaper(interval: float) -> None:
        """Run the host's reaper in the foreground (a service: see deploy/systemd/chaosrunner-reaper.service).

        Every pass reverts the faults of runs whose runner and watchdog are both gone (or whose runner
        stopped beating for 10 s) and marks their journals. The scheduler daemon runs the same passes;
        hosts without the daemon run this. Stop it with SIGTERM or Ctrl-C.

        \b
        Example: chaosrunner reaper --interval 5   (as a service: deploy/systemd/chaosrunner-reaper.service)
        """
        import signal
        import threading

        from chaosrunner.faults.reaper import serve

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        serve(interval_s=interval, stop=stop)
