"""``chaosrunner init``: scaffold a first experiment and its SLO catalog entries (docs/getting-started.md)."""

from __future__ import annotations

from pathlib import Path

import click

from chaosrunner.cli.command import PATH, Group, exit_with, option
from chaosrunner.core.verdict import ExitCode


def register(app: Group) -> None:
    @app.command("init")
    @click.argument("name", required=True, help="the experiment's name: experiments/<name>.yaml")
    @option("--service", required=True, prompt="Service (as your metrics label it)", help="the service to test")
    @option("--prometheus", required=True, prompt="Prometheus URL", help="where the SLIs are read")
    @option("--inject", required=True, prompt="Command that injects the fault", help="the fault, a command line")
    @option("--undo", required=True, prompt="Command that undoes it", help="its undo, a command line")
    @option("--target", help="the target's id (default: the service)")
    @option("--zone", help="the target's zone (scopes the guard's in-scope SLIs)")
    @option("--region", help="the target's region")
    @option("--hold", default="30s", help="how long the fault stays before the rollback")
    @option("--objective", default="99.9%", help="the availability SLO's objective")
    @option("--requests-metric", default="http_requests_total", help="request counter with a status label")
    @option("--code-label", default="code", help="the counter's HTTP status label")
    @option("--histogram", default="http_request_duration_seconds", help="latency histogram (base name)")
    @option("--latency-threshold", default="200ms", help="a bucket bound of the histogram")
    @option("--service-label", default="service", help="the label that carries the service name")
    @option("--budget-gate/--no-budget-gate", default=True, help="refuse to start on an exhausted error budget")
    @option("--dir", "directory", type=PATH, default=Path("."), help="where experiments/ and probes/ go")
    def init(
        name: str,
        service: str,
        prometheus: str,
        inject: str,
        undo: str,
        target: str | None,
        zone: str | None,
        region: str | None,
        hold: str,
        objective: str,
        requests_metric: str,
        code_label: str,
        histogram: str,
        latency_threshold: str,
        service_label: str,
        budget_gate: bool,
        directory: Path,
    ) -> None:
        """Write a first experiment and its SLO catalog entries, validated, ready to `plan` and `run`.

        The fault is your command (--inject) and its undo your other command (--undo): the undo runs in the
        rollbacks, and from the ledger if the run dies. Two SLOs (availability, latency) go into
        probes/<service>.yaml, read from your Prometheus. Files that exist are never overwritten (exit 2).

        \b
        Example: chaosrunner init checkout-latency --service checkout --prometheus http://prometheus:9090
        --inject "tc qdisc add dev eth0 root netem delay 100ms" --undo "tc qdisc del dev eth0 root"
        """
        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.experiment.scaffold import Answers, scaffold

        answers = Answers(name, service, prometheus, inject, undo, target, zone, region, hold, objective,
                          requests_metric, code_label, histogram, latency_threshold, service_label, budget_gate)
        try:
            exp, cat = scaffold(answers, directory)
        except InvalidInput as e:
            click.echo(e.render(), err=True)
            raise exit_with(int(ExitCode.INVALID_INPUT)) from None
        click.echo(f"wrote {exp}\nwrote {cat}\nnext: chaosrunner plan {exp}   then: chaosrunner run {exp}")
