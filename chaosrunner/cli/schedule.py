"""`schedule show|next|validate|export`, `scheduler start`, `gameday run PLAN`.

Thin: parse, call the engine in ``chaosrunner.schedule``, print. Engine modules are imported inside
the commands so ``chaosrunner --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from chaosrunner.cli.command import PATH, Group, exit_with, option
from chaosrunner.core.verdict import EXIT_CODES_HELP


def _invalid(e: Exception) -> click.exceptions.Exit:
    click.echo(str(e), err=True)
    return exit_with(2)


def _load(path: Path, check_files: bool = True) -> Any:
    from chaosrunner.calendar.model import load_calendar
    from chaosrunner.core.validation import InvalidInput

    try:
        return load_calendar(path, check_files=check_files)
    except InvalidInput as e:
        raise _invalid(e) from None


def register(app: Group) -> None:
    schedule = Group(help="The experiment calendar: validate, show, next fire times, export.",
                           no_args_is_help=True)
    scheduler = Group(help="The scheduler daemon that runs a calendar.", no_args_is_help=True)
    gameday = Group(help="Facilitated game days: run a list of experiments now.", no_args_is_help=True)
    app.add_command(schedule, name="schedule")
    app.add_command(scheduler, name="scheduler")
    app.add_command(gameday, name="gameday")

    @schedule.command("validate")
    @click.argument("files", type=PATH, nargs=-1, required=True, help="calendar files (YAML)")
    @option("--experiments/--no-experiments", default=True, help="also validate each entry's experiment")
    @option("--json", "as_json", is_flag=True, default=False)
    def validate(files: tuple[Path, ...], experiments: bool, as_json: bool) -> None:
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
                    click.echo(f"{f}: ok ({len(cal.entries)} entries, {cal.timezone})")
            except InvalidInput as e:
                bad = True
                results.append({"file": str(f), "valid": False, "problems": [
                    {"key": k, "problem": m} for k, m in e.problems]})
                if not as_json:
                    click.echo(e.render(), err=True)
        if as_json:
            click.echo(json.dumps(results, indent=2))
        raise exit_with(2 if bad else 0)

    @schedule.command("show")
    @click.argument("file", type=PATH, required=True, help="calendar file")
    @option("--json", "as_json", is_flag=True, default=False)
    def show(file: Path, as_json: bool) -> None:
        """The week as a table: entry, day, window, experiment, next fire (calendar zone and local).

        \b
        Example: chaosrunner schedule show schedules/weekly.yaml
        """
        from chaosrunner.schedule.view import week_rows

        cal = _load(file, check_files=False)
        rows = week_rows(cal)
        if as_json:
            click.echo(json.dumps({"calendar": cal.name, "timezone": cal.timezone, "entries": rows}, indent=2))
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
    @click.argument("file", type=PATH, required=True, help="calendar file")
    @option("--days", type=click.IntRange(min=1, max=366), default=7, help="how far ahead")
    @option("--include-skipped/--only-runs", default=True, help="also list fires the window would skip")
    @option("--json", "as_json", is_flag=True, default=False)
    def next_(file: Path, days: int, include_skipped: bool, as_json: bool) -> None:
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
            click.echo(json.dumps([{"entry": f.entry, "at": f.at.isoformat(), "at_utc": f.at.astimezone(UTC)
                                    .isoformat(), "runs": f.ok, "detail": f.detail} for f in fires], indent=2))
            return
        monkeys = {e.name for e in cal.entries if e.kind == "monkey"}
        for f in fires:
            local = f.at.astimezone()
            verdict = "runs" if f.ok else "skip: " + f.detail
            if f.ok and f.entry in monkeys:
                verdict = "plans the day's random kills (Chaos Monkey)"
            click.echo(f"{f.at:%a %Y-%m-%d %H:%M %Z}  (local {local:%H:%M %Z})  {f.entry:<28} {verdict}")

    @schedule.command("export")
    @click.argument("file", type=PATH, required=True, help="calendar file")
    @option("--format", "fmt", default="cron", help="cron | k8s (CronJobs) | k8s-daemon (the daemon: "
                                                              "ConfigMap, Deployment, Service)")
    @option("--out", "--output", "-o", "output", type=PATH, help="output file (stdout if none)")
    @option("--image", default="chaosrunner:latest", help="k8s: container image with chaosrunner")
    @option("--namespace", default="default", help="k8s: namespace")
    @option("--workdir", default="/app", help="k8s: the repository's path inside the image")
    @option("--base", type=PATH, default=Path("."), help="k8s: host directory that becomes --workdir")
    @option("--program", default="", help="command that runs chaosrunner (cron default: this "
                                                    "python -m chaosrunner; k8s default: chaosrunner)")
    @option("--state-claim", default="chaosrunner-state", help="k8s: the ReadWriteMany "
                                               "PersistentVolumeClaim every pod mounts as its state home")
    @option("--secret", default="chaosrunner", help="k8s: the Secret whose keys become the pods' "
                                                              "environment (CHAOSRUNNER_FLEET, credentials; "
                                                              "k8s-daemon: CHAOSRUNNER_STORE_URL)")
    @option("--replicas", type=click.IntRange(min=1), default=2,
        help="k8s-daemon: daemons (one leads, the others stand by)")
    @option("--service-account", help="k8s: the pods' service account")
    def export(
        file: Path,
        fmt: str,
        output: Path | None,
        image: str,
        namespace: str,
        workdir: str,
        base: Path,
        program: str,
        state_claim: str,
        secret: str,
        replicas: int,
        service_account: str | None,
    ) -> None:
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
            click.echo(result.text, nl=False)
        for name, why in result.skipped:
            click.echo(f"not exported: {name}: {why}", err=True)

    @scheduler.command("start")
    @click.argument("file", type=PATH, required=True, help="calendar file")
    @option("--store", help="job store URL: sqlite:///F (default: under the state "
                                                           "dir) or postgresql+psycopg://... for HA")
    @option("--ha-group", default="default", help="daemons sharing a store and group elect one leader")
    @option("--poll", type=float, default=0.5, help="seconds between restricted-window/leadership checks")
    @option("--leader-poll", type=float, default=1.0, help="seconds between standby attempts to lead")
    @option("--python", default="", help="interpreter that runs `-m chaosrunner run` for each fire "
                                                 "(default: this one)")
    @option("--metrics-port", type=click.IntRange(min=0, max=65535),
        help="serve the daemon's /metrics on this port (0: any free)")
    @option("--metrics-address", default="127.0.0.1", help="address the /metrics server binds")
    @option("--verbose", "-v", is_flag=True, default=False)
    def start(
        file: Path,
        store: str | None,
        ha_group: str,
        poll: float,
        leader_poll: float,
        python: str,
        metrics_port: int | None,
        metrics_address: str,
        verbose: bool,
    ) -> None:
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
    @click.argument("plan_file", type=PATH, required=True, metavar="PLAN", help="game-day plan (YAML)")
    @option("--keep-going", is_flag=True, default=False, help="do not stop at the first abort")
    @option("--json", "as_json", is_flag=True, default=False)
    def run(plan_file: Path, keep_going: bool, as_json: bool) -> None:
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
                click.echo(f"step {step.index + 1}: {step.verdict} {Path(step.experiment).name}", err=True)

        result = run_plan(plan, keep_going=True if keep_going else None, on_step=progress)
        click.echo(json.dumps(result.to_json(), indent=2) if as_json else result.render())
        raise exit_with(result.exit_code)
