"""`schedule show|next|validate|export`, `scheduler start`, `gameday run PLAN`.

Thin: parse, call the engine in ``chaosrunner.schedule``, print. Engine modules are imported inside
the commands so ``chaosrunner --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from chaosrunner.core.verdict import EXIT_CODES_HELP


def _invalid(e: Exception) -> typer.Exit:
    typer.echo(str(e), err=True)
    return typer.Exit(2)


def _load(path: Path, check_files: bool = True) -> Any:
    from chaosrunner.calendar.model import load_calendar
    from chaosrunner.core.validation import InvalidInput

    try:
        return load_calendar(path, check_files=check_files)
    except InvalidInput as e:
        raise _invalid(e) from None


def register(app: typer.Typer) -> None:
    schedule = typer.Typer(help="The experiment calendar: validate, show, next fire times, export.",
                           no_args_is_help=True)
    scheduler = typer.Typer(help="The scheduler daemon that runs a calendar.", no_args_is_help=True)
    gameday = typer.Typer(help="Facilitated game days: run a list of experiments now.", no_args_is_help=True)
    app.add_typer(schedule, name="schedule")
    app.add_typer(scheduler, name="scheduler")
    app.add_typer(gameday, name="gameday")

    @schedule.command("validate")
    def validate(files: list[Path] = typer.Argument(..., help="calendar files (YAML)"),
                 experiments: bool = typer.Option(True, "--experiments/--no-experiments",
                                                  help="also validate each entry's experiment"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
        """Validate calendars (format, zones, holidays country, cron expressions, experiment files and,
        by default, the experiments themselves). Exit 2 with `file: key: problem` lines on bad input.

        \b
        Example: chaosrunner schedule validate schedules/*.yaml
        """
        from chaosrunner.calendar.model import load_calendar
        from chaosrunner.core.validation import InvalidInput

        results, bad = [], False
        for f in files:
            try:
                cal = load_calendar(f)
                if experiments:
                    from chaosrunner.experiment.loader import load_experiment

                    problems: list[tuple[str, str]] = []
                    for i, e in enumerate(cal.entries):
                        try:
                            load_experiment(cal.experiment_path(e))
                        except InvalidInput as err:
                            problems += [(f"entries[{i}].experiment", line) for line in err.render().splitlines()]
                    if problems:
                        raise InvalidInput(f, problems)
                results.append({"file": str(f), "valid": True, "entries": len(cal.entries)})
                if not as_json:
                    typer.echo(f"{f}: ok ({len(cal.entries)} entries, {cal.timezone})")
            except InvalidInput as e:
                bad = True
                results.append({"file": str(f), "valid": False, "problems": [
                    {"key": k, "problem": m} for k, m in e.problems]})
                if not as_json:
                    typer.echo(e.render(), err=True)
        if as_json:
            typer.echo(json.dumps(results, indent=2))
        raise typer.Exit(2 if bad else 0)

    @schedule.command("show")
    def show(file: Path = typer.Argument(..., help="calendar file"),
             as_json: bool = typer.Option(False, "--json")) -> None:
        """The week as a table: entry, day, window, experiment, next fire (calendar zone and local).

        \b
        Example: chaosrunner schedule show schedules/weekly.yaml
        """
        from chaosrunner.schedule.view import week_rows

        cal = _load(file, check_files=False)
        rows = week_rows(cal)
        if as_json:
            typer.echo(json.dumps({"calendar": cal.name, "timezone": cal.timezone, "entries": rows}, indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{cal.name} ({cal.timezone})")
        for col in ("entry", "day", "when", "window", "experiment", f"next ({cal.timezone})", "next (local)"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["entry"], r["days"], r["when"], r["window"], r["experiment"],
                          r["next_calendar"] or "-", r["next_local"] or "-")
        Console(width=200).print(table)

    @schedule.command("next")
    def next_(file: Path = typer.Argument(..., help="calendar file"),
              days: int = typer.Option(7, "--days", min=1, max=366, help="how far ahead"),
              include_skipped: bool = typer.Option(True, "--include-skipped/--only-runs",
                                                   help="also list fires the window would skip"),
              as_json: bool = typer.Option(False, "--json")) -> None:
        """Next fire times over the coming days, with the window verdict of each.

        \b
        Example: chaosrunner schedule next schedules/weekly.yaml --days 14
        """
        from datetime import UTC, datetime, timedelta

        from chaosrunner.calendar.triggers import next_fires

        cal = _load(file, check_files=False)
        start = datetime.now(UTC)
        fires = [f for f in next_fires(cal, start, start + timedelta(days=days)) if include_skipped or f.ok]
        if as_json:
            typer.echo(json.dumps([{"entry": f.entry, "at": f.at.isoformat(), "at_utc": f.at.astimezone(UTC)
                                    .isoformat(), "runs": f.ok, "detail": f.detail} for f in fires], indent=2))
            return
        monkeys = {e.name for e in cal.entries if e.kind == "monkey"}
        for f in fires:
            local = f.at.astimezone()
            verdict = "runs" if f.ok else "skip: " + f.detail
            if f.ok and f.entry in monkeys:
                verdict = "plans the day's random kills (Chaos Monkey)"
            typer.echo(f"{f.at:%a %Y-%m-%d %H:%M %Z}  (local {local:%H:%M %Z})  {f.entry:<28} {verdict}")

    @schedule.command("export")
    def export(file: Path = typer.Argument(..., help="calendar file"),
               fmt: str = typer.Option("cron", "--format", help="cron | k8s (CronJobs) | k8s-daemon (the daemon: "
                                                              "ConfigMap, Deployment, Service)"),
               output: Path | None = typer.Option(None, "--out", "--output", "-o", help="output file (stdout if none)"),
               image: str = typer.Option("chaosrunner:latest", help="k8s: container image with chaosrunner"),
               namespace: str = typer.Option("default", help="k8s: namespace"),
               workdir: str = typer.Option("/app", help="k8s: the repository's path inside the image"),
               base: Path = typer.Option(Path("."), help="k8s: host directory that becomes --workdir"),
               program: str = typer.Option("", help="command that runs chaosrunner (cron default: this "
                                                    "python -m chaosrunner; k8s default: chaosrunner)"),
               state_claim: str = typer.Option("chaosrunner-state", help="k8s: the ReadWriteMany "
                                               "PersistentVolumeClaim every pod mounts as its state home"),
               secret: str = typer.Option("chaosrunner", help="k8s: the Secret whose keys become the pods' "
                                                              "environment (CHAOSRUNNER_FLEET, credentials; "
                                                              "k8s-daemon: CHAOSRUNNER_STORE_URL)"),
               replicas: int = typer.Option(2, min=1, help="k8s-daemon: daemons (one leads, the others stand by)"),
               service_account: str | None = typer.Option(None, help="k8s: the pods' service account")) -> None:
        """Export the calendar as crontab lines (CRON_TZ, and this host's state home spelled out) or Kubernetes
        CronJobs (batch/v1, Forbid; every pod shares one state home on STATE_CLAIM).

        \b
        Example: chaosrunner schedule export schedules/weekly.yaml --format k8s --image reg/chaosrunner:1 -o cj.yaml

        \b
        Example: chaosrunner schedule export schedules/weekly.yaml --format k8s-daemon --image reg/chaosrunner:1
        """
        import shlex
        import sys

        from chaosrunner.schedule.export import to_cronjobs, to_crontab

        cal = _load(file, check_files=False)
        if fmt == "cron":
            prog = shlex.split(program) if program else [sys.executable, "-m", "chaosrunner"]
            result = to_crontab(cal, program=prog, workdir=Path.cwd())
        elif fmt == "k8s":
            prog = shlex.split(program) if program else ["chaosrunner"]
            _, result = to_cronjobs(cal, image=image, namespace=namespace, workdir=workdir, base=base,
                                    program=prog, state_claim=state_claim, service_account=service_account,
                                    secret=secret)
        elif fmt == "k8s-daemon":
            from chaosrunner.schedule.k8s_daemon import to_daemon

            try:
                _, result = to_daemon(cal, image=image, namespace=namespace, workdir=workdir, base=base,
                                      secret=secret, replicas=replicas, service_account=service_account,
                                      state_claim=state_claim, program=shlex.split(program) if program else None)
            except ValueError as e:  # the calendar is not under --base
                raise _invalid(ValueError(f"--base: {e}")) from None
        else:
            raise _invalid(ValueError(f"--format: must be cron, k8s or k8s-daemon, not {fmt!r}"))
        if output is not None:
            output.write_text(result.text)
        else:
            typer.echo(result.text, nl=False)
        for name, why in result.skipped:
            typer.echo(f"not exported: {name}: {why}", err=True)

    @scheduler.command("start")
    def start(file: Path = typer.Argument(..., help="calendar file"),
              store: str | None = typer.Option(None, help="job store URL: sqlite:///F (default: under the state "
                                                           "dir) or postgresql+psycopg://... for HA"),
              ha_group: str = typer.Option("default", help="daemons sharing a store and group elect one leader"),
              poll: float = typer.Option(0.5, help="seconds between restricted-window/leadership checks"),
              leader_poll: float = typer.Option(1.0, help="seconds between standby attempts to lead"),
              python: str = typer.Option("", help="interpreter that runs `-m chaosrunner run` for each fire "
                                                 "(default: this one)"),
              metrics_port: int | None = typer.Option(None, min=0, max=65535,
                                                      help="serve the daemon's /metrics on this port (0: any free)"),
              metrics_address: str = typer.Option("127.0.0.1", help="address the /metrics server binds"),
              verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
        """Run the calendar until SIGTERM/SIGINT: each fire a child `chaosrunner run`, with a hard
        timeout; SIGTERM lets running experiments roll back before the daemon exits; SIGHUP re-reads
        the calendar (an invalid file is refused and the running calendar kept). With --metrics-port,
        /metrics says whether the schedule is alive (leader, next fires, runs by exit code).

        \b
        Example: chaosrunner scheduler start schedules/weekly.yaml --store postgresql+psycopg://cr@db/chaos
        --metrics-port 9464
        """
        import logging
        import signal
        import threading

        from chaosrunner.schedule.daemon import Daemon, DaemonOptions

        cal = _load(file)
        logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("apscheduler").setLevel(logging.INFO if verbose else logging.WARNING)
        stop = threading.Event()

        def _stop(signum: int, _frame: object) -> None:
            logging.getLogger("chaosrunner.scheduler").info("signal %d: stopping", signum)
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        opts = DaemonOptions(store_url=store, ha_group=ha_group, poll_s=poll, leader_poll_s=leader_poll)
        if python:
            opts.python = python
        try:
            daemon = Daemon(cal, opts)
        except Exception as e:  # noqa: BLE001 - a bad --store URL or unreachable store: say so, exit 2
            raise _invalid(ValueError(f"--store: cannot open job store: {type(e).__name__}: {e}")) from None
        signal.signal(signal.SIGHUP, lambda _s, _f: daemon.reload_requested.set())
        server = None
        if metrics_port is not None:
            from chaosrunner.schedule.metrics import serve_metrics

            try:
                server = serve_metrics(daemon, metrics_port, metrics_address)
            except OSError as e:  # a taken port: say so before scheduling anything
                raise _invalid(ValueError(f"--metrics-port: cannot listen on {metrics_address}:{metrics_port}: "
                                          f"{e}")) from None
        try:
            daemon.serve(stop)
        finally:
            if server is not None:
                server.shutdown()

    @gameday.command("run", epilog=EXIT_CODES_HELP)
    def run(plan_file: Path = typer.Argument(..., metavar="PLAN", help="game-day plan (YAML)"),
            keep_going: bool = typer.Option(False, "--keep-going", help="do not stop at the first abort"),
            as_json: bool = typer.Option(False, "--json")) -> None:
        """Run the plan's experiments now, in order; stop at the first abort (always at a failed
        rollback); print one combined summary. Exit code: the worst step's.

        \b
        Example: chaosrunner gameday run schedules/gameday.yaml --keep-going
        """
        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.schedule.gameday import load_plan, run_plan

        try:
            plan = load_plan(plan_file)
        except InvalidInput as e:
            raise _invalid(e) from None

        def progress(step: Any) -> None:
            if not as_json:
                typer.echo(f"step {step.index + 1}: {step.verdict} {Path(step.experiment).name}", err=True)

        result = run_plan(plan, keep_going=True if keep_going else None, on_step=progress)
        typer.echo(json.dumps(result.to_json(), indent=2) if as_json else result.render())
        raise typer.Exit(result.exit_code)
