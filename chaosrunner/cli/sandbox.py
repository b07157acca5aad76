"""``chaosrunner sandbox up|down|status`` and ``chaosrunner demo`` — thin: parse, call, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from chaosrunner.cli.command import PATH, Group, exit_with, option

ROOT_HELP = "Sandbox state directory (default: $CHAOSRUNNER_SANDBOX or ./.sandbox)."


def _table(*cols: str) -> Any:
    from rich import box
    from rich.table import Table

    return Table(*cols, box=box.SIMPLE_HEAD, pad_edge=False)


def _print_status(st: dict[str, Any]) -> None:
    import sys

    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 140)
    if not st.get("instances"):
        console.print(f"sandbox is down (root {st['root']})")
        return
    console.print(f"sandbox at {st['root']} — supervisor {'up' if st['up'] else 'DOWN'}")
    regions = _table("region", "type", "serves", "alone (no Full database)", "instances up")
    for r in st.get("regions", []):
        regions.add_row(r["region"], r["type"], ", ".join(r["serves"]), ", ".join(r["alone"]),
                        f"{r['up']}/{r['instances']}")
    console.print(regions)
    table = _table("instance", "region", "zone", "tier", "pid", "port", "proxy port", "state")
    for i in st["instances"]:
        table.add_row(i["id"], f"{i['region']} ({i['region_type']})", i["zone"], i["tier"], str(i["pid"] or "-"),
                      str(i["port"]), str(i["proxy_port"]), "up" if i["up"] else f"down ({i['state']})")
    console.print(table)
    db = _table("database", "role", "port", "pid", "proxy")
    for key, d in st["databases"].items():
        db.add_row(f"{d['name']} (started as {key})", d["role"], str(d["port"]), str(d.get("pid") or "-"),
                   d.get("proxy", ""))
    console.print(db)
    if st.get("cdn"):
        cdn = _table("CDN edge", "vendor", "role", "steering", "pid", "port", "proxy port", "state")
        for e in st["cdn"]["edges"]:
            mark = " (serving)" if e["id"] == st["cdn"]["serving"] else ""
            cdn.add_row(e["id"], e["vendor"], e["role"], e["steering"] + mark, str(e["pid"] or "-"), str(e["port"]),
                        str(e["proxy_port"]), e["state"].lower())
        console.print(cdn)
    px = _table("proxy", "kind", "joins", "listen", "upstream", "enabled", "toxics")
    for p in st["proxies"]:
        px.add_row(p["name"], p["kind"], " <-> ".join(p.get("between", [])), p["listen"], p["upstream"],
                   str(p.get("enabled", "?")),
                   ", ".join(p.get("toxics", [])) or "-")
    console.print(px)
    for name, url in st["urls"].items():
        console.print(f"{name:>14}: {url}")


def register(app: Group) -> None:
    sandbox = Group(help="The local sandbox estate to experiment on (see docs/sandbox.md).",
                          no_args_is_help=True)
    app.add_command(sandbox, name="sandbox")

    @sandbox.command("up")
    @option("--root", type=PATH, help=ROOT_HELP)
    @option("--base-port", type=int, help="Use consecutive ports from here (default: free ports).")
    @option("--rps", type=float, default=50.0, help="Load generator rate, requests per second.")
    @option("--replacement-delay", type=float, default=0.0, help="Extra boot time (seconds) of a replaced instance.")
    @option("--json", "as_json", is_flag=True, default=False, help="Print the state as JSON.")
    def up_cmd(root: Path, base_port: int, rps: float, replacement_delay: float, as_json: bool) -> None:
        """Start the estate (idempotent) and write <root>/state.json.

        \b
        Example: chaosrunner sandbox up --rps 50
        """
        from chaosrunner.sandbox.estate import SandboxError, SandboxOptions, up
        from chaosrunner.sandbox.state import sandbox_root

        if rps < 0 or replacement_delay < 0 or (base_port is not None and not 1024 <= base_port <= 64000):
            click.echo("sandbox up: --rps/--replacement-delay must be >= 0, --base-port in 1024..64000", err=True)
            raise exit_with(2)
        try:
            state = up(SandboxOptions(root=sandbox_root(root), base_port=base_port, rps=rps,
                                      replacement_delay_s=replacement_delay))
        except SandboxError as exc:
            click.echo(f"sandbox up failed: {exc}", err=True)
            raise exit_with(1) from exc
        if as_json:
            click.echo(json.dumps(state.to_json(), indent=2))
        else:
            click.echo(f"sandbox up: {len(state.instances)} instances, pinboard at {state.haproxy.url}, "
                       f"prometheus at {state.prometheus.url}, state {state.root}/state.json")

    @sandbox.command("down")
    @option("--root", type=PATH, help=ROOT_HELP)
    @option("--json", "as_json", is_flag=True, default=False)
    def down_cmd(root: Path, as_json: bool) -> None:
        """Stop every sandbox process and remove the state directory.

        \b
        Example: chaosrunner sandbox down
        """
        from chaosrunner.sandbox.estate import down
        from chaosrunner.sandbox.state import sandbox_root

        result = down(sandbox_root(root))
        text = f"sandbox down: stopped {', '.join(result['stopped']) or 'nothing'}"
        click.echo(json.dumps(result) if as_json else text)

    @sandbox.command("status")
    @option("--root", type=PATH, help=ROOT_HELP)
    @option("--json", "as_json", is_flag=True, default=False)
    def status_cmd(root: Path, as_json: bool) -> None:
        """Instances (region, zone, tier, pid, port, up/down), database roles, proxies and URLs.

        \b
        Example: chaosrunner sandbox status --json
        """
        from chaosrunner.sandbox.estate import status
        from chaosrunner.sandbox.state import SandboxStateMissing, sandbox_root

        try:
            st = status(sandbox_root(root))
        except SandboxStateMissing as e:
            click.echo(e.render(), err=True)
            raise exit_with(2) from None
        if as_json:
            click.echo(json.dumps(st, indent=2))
        else:
            _print_status(st)
        if not st.get("instances"):
            raise exit_with(1)

    @app.command("demo")
    @option("--root", type=PATH, help=ROOT_HELP)
    @option("--calendar", type=PATH, default=Path("schedules/weekly.yaml"),
        help="The calendar whose week runs now, Monday first.")
    @option("--json", "as_json", is_flag=True, default=False)
    def demo_cmd(root: Path, calendar: Path, as_json: bool) -> None:
        """Sandbox up, run the calendar's week now (Mon..Fri), print a summary and report, sandbox down.

        \b
        Example: chaosrunner demo
        """
        from chaosrunner.cli.demo import render_summary, run_demo
        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.sandbox.state import sandbox_root

        try:
            summary = run_demo(sandbox_root(root), calendar, progress=None if as_json else click.echo)
        except InvalidInput as e:
            click.echo(e.render(), err=True)
            raise exit_with(2) from None
        click.echo(json.dumps(summary, indent=2) if as_json else render_summary(summary))
        raise exit_with(0 if summary["ok"] else 1)
