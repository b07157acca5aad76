"""``chaosrunner init``: scaffold a first experiment and its SLO catalog entries (docs/getting-started.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from chaosrunner.core.verdict import ExitCode


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        name: str = typer.Argument(..., help="the experiment's name: experiments/<name>.yaml"),
        service: str = typer.Option(..., prompt="Service (as your metrics label it)", help="the service to test"),
        prometheus: str = typer.Option(..., prompt="Prometheus URL", help="where the SLIs are read"),
        inject: str = typer.Option(..., prompt="Command that injects the fault", help="the fault, a command line"),
        undo: str = typer.Option(..., prompt="Command that undoes it", help="its undo, a command line"),
        target: str | None = typer.Option(None, help="the target's id (default: the service)"),
        zone: str | None = typer.Option(None, help="the target's zone (scopes the guard's in-scope SLIs)"),
        region: str | None = typer.Option(None, help="the target's region"),
        hold: str = typer.Option("30s", help="how long the fault stays before the rollback"),
        objective: str = typer.Option("99.9%", help="the availability SLO's objective"),
        requests_metric: str = typer.Option("http_requests_total", help="request counter with a status label"),
        code_label: str = typer.Option("code", help="the counter's HTTP status label"),
        histogram: str = typer.Option("http_request_duration_seconds", help="latency histogram (base name)"),
        latency_threshold: str = typer.Option("200ms", help="a bucket bound of the histogram"),
        service_label: str = typer.Option("service", help="the label that carries the service name"),
        budget_gate: bool = typer.Option(True, help="refuse to start on an exhausted error budget"),
        directory: Path = typer.Option(Path("."), "--dir", help="where experiments/ and probes/ go"),
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
            typer.echo(e.render(), err=True)
            raise typer.Exit(int(ExitCode.INVALID_INPUT)) from None
        typer.echo(f"wrote {exp}\nwrote {cat}\nnext: chaosrunner plan {exp}   then: chaosrunner run {exp}")
