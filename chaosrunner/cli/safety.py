"""`halt`, `resume`: the kill switch from the command line."""

from __future__ import annotations

import json
from typing import Any

import click

from chaosrunner.cli.command import Group, exit_with, option
from chaosrunner.cli.state import HOME_HELP


def register(app: Group) -> None:
    @app.command(epilog=HOME_HELP)
    @option("--reason", required=True, help="why chaos is halted (shown on every refusal)")
    @option("--json", "as_json", is_flag=True, default=False, help="machine-readable output")
    def halt(reason: str, as_json: bool) -> None:
        """Engage the kill switch: new runs are refused (exit 4) and running ones abort within 1 s — on this
        host, and on every host of the fleet when one is configured (`fleet:`; exit 1 if it cannot be reached:
        this host is halted all the same).

        \b
        Example: chaosrunner halt --reason "incident 1234"
        """
        from chaosrunner.faults.fleet import FleetUnavailable
        from chaosrunner.safety import killswitch

        if not reason.strip():
            click.echo("halt: --reason: must not be empty", err=True)
            raise exit_with(2)
        try:
            state = killswitch.engage(reason)
        except FleetUnavailable as e:
            click.echo(f"chaos halted on this host only ({killswitch.path()}): {e}", err=True)
            raise exit_with(1) from None
        where = "every host of the fleet" if state.scope == "fleet" else f"kill switch at {killswitch.path()}"
        if as_json:
            click.echo(json.dumps({"engaged": True, **state.__dict__, "path": str(killswitch.path()),
                                    "state_home": str(killswitch.path().parent)}))
        else:
            click.echo(f"chaos halted: {state.reason} ({where})")

    @app.command(epilog=HOME_HELP)
    @option("--json", "as_json", is_flag=True, default=False, help="machine-readable output")
    def resume(as_json: bool) -> None:
        """Release the kill switch: new runs are allowed again.

        \b
        Example: chaosrunner resume
        """
        from chaosrunner.faults.fleet import FleetUnavailable
        from chaosrunner.safety import killswitch

        try:
            was = killswitch.release()
        except FleetUnavailable as e:  # this host resumed; the fleet's switch is still engaged
            click.echo(f"resumed on this host only; the fleet's kill switch is unchanged: {e}", err=True)
            raise exit_with(1) from None
        if as_json:
            click.echo(json.dumps({"engaged": False, "was_engaged": was, "state_home": str(killswitch.path().parent)}))
        else:
            click.echo("chaos resumed" if was else "kill switch was not engaged")

    _register_slo(app)


def _register_slo(app: Group) -> None:
    slo_app = Group(help="The SLO catalog (probes/): validate it, read the error budget.", no_args_is_help=True)
    app.add_command(slo_app, name="slo")

    @slo_app.command("validate")
    @click.argument("paths", nargs=-1, required=False, help="catalog files or directories (default: probes)")
    @option("--json", "as_json", is_flag=True, default=False, help="machine-readable output")
    def slo_validate(paths: tuple[str, ...], as_json: bool) -> None:
        """Validate SLO catalogs. Exit 2 with `file: key: problem` on bad input.

        \b
        Example: chaosrunner slo validate probes/
        """
        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.slo.catalog import load_catalog

        try:
            cat = load_catalog(paths or ["probes"])
        except InvalidInput as e:
            click.echo(e.render(), err=True)
            raise exit_with(2) from None
        rows: list[dict[str, Any]] = [
            {"name": s.name, "service": s.service, "objective": s.objective, "window_s": s.window, "sli": s.sli.type}
            for s in cat.slos.values()
        ]
        if as_json:
            click.echo(json.dumps({"slos": rows, "probes": sorted(cat.probes)}))
            return
        for r in rows:
            click.echo(
                f"ok  {r['name']:<32} {r['service']:<16} {r['objective'] * 100:g}% over "
                f"{r['window_s'] / 86400:g}d ({r['sli']})"
            )

    @slo_app.command("budget")
    @click.argument("names", nargs=-1, required=False, help="SLO names (default: every SLO in the catalog)")
    @option("--catalog", multiple=True, default=["probes"], help="catalog files or directories")
    @option("--prometheus", help="Prometheus URL (default: env or sandbox)")
    @option("--json", "as_json", is_flag=True, default=False, help="machine-readable output")
    def slo_budget(names: tuple[str, ...], catalog: tuple[str, ...], prometheus: str, as_json: bool) -> None:
        """Remaining error budget per SLO over its window (service-wide), read from Prometheus.

        \b
        Example: chaosrunner slo budget pinboard-availability --prometheus http://127.0.0.1:9090
        """
        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.safety.preflight import budget_status
        from chaosrunner.slo.catalog import load_catalog
        from chaosrunner.slo.prometheus import PrometheusSource
        from chaosrunner.slo.source import prometheus_url

        try:
            cat = load_catalog(catalog)
            wanted = names or sorted(cat.slos)
            for n in wanted:
                cat.get(n)
        except InvalidInput as e:
            click.echo(e.render(), err=True)
            raise exit_with(2) from None
        except KeyError as e:
            click.echo(f"slo budget: {e.args[0]}", err=True)
            raise exit_with(2) from None
        url = prometheus_url(prometheus)
        if not url:
            click.echo("slo budget: no Prometheus URL (--prometheus, $CHAOSRUNNER_PROMETHEUS_URL or sandbox)", err=True)
            raise exit_with(2)
        status = budget_status(cat, wanted, PrometheusSource(url), None, None)
        if as_json:
            click.echo(json.dumps(status.to_dict()))
        else:
            for n in wanted:
                v = status.remaining.get(n)
                shown = f"{v * 100:.2f}% left" if v is not None else f"unknown ({status.errors.get(n)})"
                click.echo(f"{n:<32} {shown}")
        raise exit_with(0 if not status.errors else 1)
