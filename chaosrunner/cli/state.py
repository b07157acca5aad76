"""`status` and `state migrate`: the state home as an SRE sees it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from chaosrunner.cli.command import PATH, Group, exit_with, option

HOME_HELP = ("State home: $CHAOSRUNNER_HOME, else the config file's `state`, else /var/lib/chaosrunner (root) "
             "or $XDG_STATE_HOME/chaosrunner — never the current directory.")


def register(app: Group) -> None:
    @app.command(epilog=HOME_HELP)
    @option("--json", "json_output", is_flag=True, default=False, help="print the report as JSON")
    def status(json_output: bool) -> None:
        """The state home now: kill switch, open faults, held target locks, running runs.

        \b
        Example: chaosrunner status --json | jq '.open_faults'
        """
        # engine imports inside the command: `chaosrunner --help` does not pay for them (start-up)
        from chaosrunner.safety.status import state_report

        report = state_report()
        if json_output:
            click.echo(json.dumps(report, indent=2))
            return
        ks = report["kill_switch"]
        click.echo(f"state home   {report['state_home']}")
        click.echo("kill switch  " + (f"ENGAGED ({ks['scope']}) by {ks['engaged_by']} at {ks['engaged_at']}: "
                                      f"{ks['reason']}" if ks["engaged"] else "released"))
        click.echo(f"open faults  {len(report['open_faults'])}")
        for f in report["open_faults"]:
            click.echo(f"  {f['fault']} on {f['target']} (run {f['run_id']}, recorded {f['recorded_at']})")
        click.echo(f"locks held   {len(report['locks'])}")
        for lock in report["locks"]:
            click.echo(f"  {lock.get('key')} by run {lock.get('run_id')} (pid {lock.get('pid')})")
        click.echo(f"runs         {len(report['runs'])}")
        for r in report["runs"]:
            state = "running" if r["alive"] else "GONE (the reaper or `chaosrunner recover` finishes it)"
            click.echo(f"  {r['run_id']} pid {r['pid']} {state}, {r['running_for_s']:.0f}s")

    state_app = Group(help="The state home: move state older versions kept in ./.chaosrunner.",
                            no_args_is_help=True)
    app.add_command(state_app, name="state")
    config_app = Group(help="The configuration file and the environment: what is in effect.",
                             no_args_is_help=True)
    app.add_command(config_app, name="config")

    @config_app.command("show")
    @option("--json", "json_output", is_flag=True, default=False, help="print as JSON")
    def config_show(json_output: bool) -> None:
        """Every setting in effect and where it came from (environment variable, config file, default).

        \b
        Example: chaosrunner config show --json | jq -r .state.value
        """
        from chaosrunner.core.config import config_path, effective

        settings = effective()
        if json_output:
            click.echo(json.dumps({"config_file": str(config_path()),
                                   **{k: {"value": v.value, "source": v.source} for k, v in settings.items()}},
                                  indent=2))
            return
        click.echo(f"config file   {config_path()}" + ("" if config_path().is_file() else " (absent)"))
        for key, setting in settings.items():
            click.echo(f"{key:<13} {setting.value or '—'}  ({setting.source})")

    @state_app.command("migrate", epilog=HOME_HELP)
    @click.argument("source", type=PATH, required=False, default=Path(".chaosrunner"),
                    help="the old state directory (default: .chaosrunner)")
    @option("--json", "json_output", is_flag=True, default=False, help="print what moved as JSON")
    def migrate_cmd(source: Path, json_output: bool) -> None:
        """Move open faults, run leases and an engaged kill switch from SOURCE into the state home.

        \b
        Example: chaosrunner state migrate /srv/chaos/.chaosrunner   (the default: ./.chaosrunner)
        """
        from chaosrunner.core.verdict import ExitCode
        from chaosrunner.safety.status import migrate

        if not source.is_dir():
            click.echo(f"{source}: no such state directory", err=True)
            raise exit_with(int(ExitCode.INVALID_INPUT))
        try:
            result = migrate(source)
        except ValueError as e:
            click.echo(f"{source}: {e}", err=True)
            raise exit_with(int(ExitCode.INVALID_INPUT)) from None
        click.echo(json.dumps(result, indent=2) if json_output
                   else f"moved {len(result['moved'])} file(s) from {result['from']} to {result['to']}")
