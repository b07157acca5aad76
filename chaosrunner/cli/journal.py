"""`journal list|show|report|trend`: the facilitator's view of the journal store (docs/journal.md, docs/review.md).

Exit codes: 0 ok · 2 bad input (a malformed journal, an unknown run id, a bad option) — the message
names the file and the key. ``list`` and ``trend`` skip unreadable journals with a warning on stderr
instead of failing, so one corrupt file never hides the rest of the store.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chaosrunner.cli.command import PATH, Group, exit_with, option
from chaosrunner.cli.journal_text import list_lines, plain, show_lines
from chaosrunner.core import verdict as verdicts
from chaosrunner.core.ids import parse_time

if TYPE_CHECKING:
    from chaosrunner.journal.store import Listing

def _fail(err: Exception) -> click.exceptions.Exit:
    click.echo(str(err), err=True)
    return exit_with(2)


def parse_when(option: str, value: str | None, now: datetime) -> datetime | None:
    """``--since``/``--until``: an ISO date or time (UTC unless it says otherwise), or an age like ``7d``."""
    from datetime import timedelta

    from chaosrunner.core.units import parse_duration
    from chaosrunner.core.validation import InvalidInput

    if value is None:
        return None
    try:
        return now - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        return parse_time(value)
    except ValueError:
        raise InvalidInput(
            option, [("", f"{value!r}: expected an ISO date/time (2026-11-16, 2026-11-16T14:00Z) or an age (7d)")]
        ) from None


def _warn_problems(listing: Listing) -> None:
    if listing.problems:
        click.echo(f"warning: skipped {len(listing.problems)} unreadable journal(s):", err=True)
        for p in listing.problems[:20]:
            click.echo(f"  {p}", err=True)


def _root(journal_dir: str | None) -> Path:
    """The store to read: a directory, or ``s3://bucket/prefix`` (the fleet's bucket, mirrored under the state
    home first: journal/s3.py)."""
    from chaosrunner.core.storage import journal_dir as default_dir

    if journal_dir and journal_dir.startswith("s3://"):
        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.journal import s3

        try:
            where = s3.S3Location.parse(journal_dir)
        except ValueError as e:
            raise InvalidInput("--journal-dir", [("", str(e))]) from None
        try:
            return s3.mirror(where)
        except Exception as e:  # noqa: BLE001 - botocore's errors are many: any of them means "cannot read it"
            click.echo(f"--journal-dir: cannot read {where}: {type(e).__name__}: {e}", err=True)
            raise exit_with(1) from None
    return Path(journal_dir).absolute() if journal_dir else default_dir()


DIR_OPTION = option("--journal-dir", help="journal store: a directory or s3://bucket/prefix (default "
                                                       "$CHAOSRUNNER_JOURNALS, else <state home>/journals)")


def _check_trigger(trigger: str | None) -> None:
    """A filter on a trigger no run can have is a typo (``gamday``), not an empty answer."""
    from chaosrunner.core.validation import InvalidInput
    from chaosrunner.journal.schema import TRIGGERS

    if trigger is not None and trigger not in TRIGGERS:
        raise InvalidInput("--trigger", [("", f"{trigger!r}: expected one of {'|'.join(TRIGGERS)}")])


def register(app: Group) -> None:
    journal = Group(
        help="Browse the journal store, render game-day reports, show resilience trends.\n\n"
        "Exit codes: 0 ok · 2 bad input (unknown or malformed run id, malformed journal: 'file: key: problem', "
        "bad option).",
        no_args_is_help=True,
    )
    app.add_command(journal, name="journal")

    @journal.command("list")
    @option("--experiment", help="substring of the experiment path or title")
    @option("--verdict", help=verdicts.CHOICES)
    @option("--entry", help="calendar entry name")
    @option("--trigger", help="cli|schedule|gameday")
    @option("--since", help="runs started at or after: ISO date/time or age (7d)")
    @option("--until", help="runs started before: ISO date/time or age")
    @option("--limit", type=click.IntRange(min=0), default=0, help="show at most N runs (0 = all)")
    @option("--json", "as_json", is_flag=True, default=False, help="machine-readable output")
    @DIR_OPTION
    def list_(
        experiment: str | None,
        verdict: str | None,
        entry: str | None,
        trigger: str | None,
        since: str | None,
        until: str | None,
        limit: int,
        as_json: bool,
        journal_dir: str | None,
    ) -> None:
        """List journals, newest first.

        \b
        Example: chaosrunner journal list --verdict aborted --since 7d
        """
        from datetime import UTC

        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.journal.store import Filters, list_journals

        try:
            if verdict is not None and verdict not in verdicts.ORDER:
                raise InvalidInput("--verdict", [("", f"{verdict!r}: expected one of {verdicts.CHOICES}")])
            _check_trigger(trigger)
            now = datetime.now(UTC)
            filters = Filters(
                experiment=experiment,
                verdict=verdict,
                entry=entry,
                trigger=trigger,
                since=parse_when("--since", since, now),
                until=parse_when("--until", until, now),
            )
        except InvalidInput as e:
            raise _fail(e) from None
        listing = list_journals(_root(journal_dir), filters)
        rows = listing.summaries[:limit] if limit else listing.summaries
        _warn_problems(listing)
        if as_json:
            click.echo(json.dumps([s.to_json() for s in rows]))
            return
        if not rows:
            click.echo("no journals")
            return
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() or "COLUMNS" in os.environ else None
        click.echo("\n".join(list_lines(rows, width)))

    @journal.command("show")
    @click.argument("run_id", required=True, help="run id, 'latest', or a path to a journal file")
    @option("--json", "as_json", is_flag=True, default=False, help="summary + the journal document")
    @DIR_OPTION
    def show(run_id: str, as_json: bool, journal_dir: str | None) -> None:
        """One run: what was injected where, what the guard saw, why it stopped, what was rolled back.

        \b
        Example: chaosrunner journal show latest   (or a unique start or end of a run id: 20261202T0334…59cdf2)
        """
        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.journal.store import find_journal, load_journal
        from chaosrunner.report.view import run_view

        try:
            loaded = load_journal(find_journal(run_id, _root(journal_dir), allow_files=True))
        except InvalidInput as e:
            raise _fail(e) from None
        if as_json:
            click.echo(json.dumps({"summary": loaded.summary.to_json(), "journal": loaded.raw}))
            return
        click.echo("\n".join(plain(line) for line in show_lines(run_view(loaded))))

    @journal.command("report")
    @click.argument("run_ids", nargs=-1, required=False,
        help="run ids, 'latest', or journal files; several → game-day report")
    @option("--since", help="also every run started at or after (ISO date/time or age)")
    @option("--until", help="... and before (with --since)")
    @option("--trigger", help="with --since: only runs with this trigger (e.g. gameday)")
    @option("--out", "--output", "-o", help="output file ('-' = stdout)")
    @option("--format", "fmt", help="html|md (default: from --out, else html)")
    @option("--trend", is_flag=True, default=False, help="append the resilience trend of these experiments")
    @option("--weeks", type=click.IntRange(min=1, max=520), default=8, help="trend window in weeks")
    @option("--tz", help="show times in this IANA zone (default: --calendar's, else UTC)")
    @option("--calendar", type=PATH, help="calendar file whose timezone times are shown in")
    @DIR_OPTION
    def report(
        run_ids: tuple[str, ...],
        since: str | None,
        until: str | None,
        trigger: str | None,
        out: str | None,
        fmt: str | None,
        trend: bool,
        weeks: int,
        tz: str | None,
        calendar: Path | None,
        journal_dir: str | None,
    ) -> None:
        """Render a self-contained HTML (or Markdown) report of one run or a whole game day.

        A game day is either several IDs or a time range: `--since 2026-11-20 --until 2026-11-21
        --trigger gameday` reports every run of that day, oldest first.

        \b
        Example: chaosrunner journal report --since 2026-11-20 --until 2026-11-21 --trigger gameday -o gameday.html
        """
        from datetime import UTC

        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.journal.store import Filters, find_journal, list_journals, load_journal

        root = _root(journal_dir)
        try:
            kind = fmt or ("md" if out and out.endswith((".md", ".markdown")) else "html")
            if kind not in ("html", "md"):
                raise InvalidInput("--format", [("", f"{kind!r}: expected html or md")])
            _check_trigger(trigger)
            if (until or trigger) and not since:
                raise InvalidInput("--since", [("", "required with --until/--trigger")])
            paths = [find_journal(i, root, allow_files=True) for i in run_ids or []]
            if since:
                now = datetime.now(UTC)
                listing = list_journals(
                    root,
                    Filters(
                        since=parse_when("--since", since, now),
                        until=parse_when("--until", until, now),
                        trigger=trigger,
                    ),
                )
                _warn_problems(listing)
                paths += [Path(s.path) for s in reversed(listing.summaries) if Path(s.path) not in paths]
            if not paths:
                raise InvalidInput("journal report", [("", "no journals: give run ids or a --since range")])
            loaded = [load_journal(p) for p in paths]
            zone = zone_option(tz, calendar)
        except InvalidInput as e:
            raise _fail(e) from None
        store_listing = list_journals(root)  # the month-to-date chaos spend reads every run of the store
        trend_data = None
        if trend:
            from datetime import UTC

            from chaosrunner.journal.store import list_journals
            from chaosrunner.report.trend import compute_trend

            listing = list_journals(root)
            _warn_problems(listing)
            keys = {j.summary.experiment for j in loaded}
            trend_data = compute_trend(
                [s for s in listing.summaries if s.experiment in keys], datetime.now(UTC), weeks=weeks, tz=zone
            )
        if kind == "md":
            from chaosrunner.report.markdown import render_markdown

            text = render_markdown(loaded, trend=trend_data)
        else:
            from chaosrunner.report.html import render_html

            text = render_html(loaded, trend=trend_data, store=store_listing.summaries, tz=zone)
        if out == "-":
            sys.stdout.write(text)
            return
        target = Path(out) if out else Path(f"report-{loaded[0].summary.run_id}.{kind}")
        try:
            target.write_text(text, encoding="utf-8")
        except OSError as e:
            click.echo(f"{target}: cannot write: {e.strerror or e}", err=True)
            raise exit_with(2) from None
        click.echo(str(target))

    @journal.command("push")
    @click.argument("to", required=False, metavar="[S3_URL]", help="s3://bucket/prefix (default: journals_s3)")
    @option("--json", "as_json", is_flag=True, default=False, help="machine-readable output")
    @DIR_OPTION
    def push(to: str | None, as_json: bool, journal_dir: str | None) -> None:
        """Copy this host's journals to the fleet's bucket: every one it lacks (runs copy their own as they end;
        this catches up after an S3 outage, or when a host joins the fleet).

        \b
        Example: chaosrunner journal push s3://chaos-journals/prod
        """
        from chaosrunner.core.config import journals_s3_setting
        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.journal import s3

        url = to or journals_s3_setting().value
        if not url:
            raise InvalidInput("S3_URL", [("", "give s3://bucket/prefix or set journals_s3 in the config file")])
        try:
            where = s3.S3Location.parse(url)
        except ValueError as e:
            raise InvalidInput("S3_URL", [("", str(e))]) from None
        try:
            sent = s3.push(_root(journal_dir), where)
        except Exception as e:  # noqa: BLE001 - botocore's errors are many: any of them means "cannot write it"
            click.echo(f"cannot copy to {where}: {type(e).__name__}: {e}", err=True)
            raise exit_with(1) from None
        if as_json:
            click.echo(json.dumps({"to": str(where), "copied": sent}))
        else:
            click.echo(f"{len(sent)} journal(s) copied to {where}")

    @journal.command("trend")
    @option("--experiment", help="substring of the experiment path or title")
    @option("--weeks", type=click.IntRange(min=1, max=520), default=8, help="how many weeks back")
    @option("--json", "as_json", is_flag=True, default=False, help="machine-readable output")
    @option("--html", type=PATH, help="also write the trend as a self-contained HTML file")
    @option("--weighting", default="chaosrunner", help="score weighting: chaosrunner|krkn (critical SLO 3, other 1)")
    @option("--tz", help="weeks and months in this IANA zone (default: --calendar's)")
    @option("--calendar", type=PATH, help="calendar file whose timezone is used")
    @DIR_OPTION
    def trend_(
        experiment: str | None,
        weeks: int,
        as_json: bool,
        html: Path | None,
        weighting: str,
        tz: str | None,
        calendar: Path | None,
        journal_dir: str | None,
    ) -> None:
        """Per experiment and week: verdicts, RTO, targets, budget spent, aborts, resilience score; per-SLO
        breakdown; error budget used by chaos per month.

        \b
        Example: chaosrunner journal trend --weeks 8 --json
        """
        from datetime import UTC, timedelta

        from chaosrunner.core.validation import InvalidInput
        from chaosrunner.journal.store import Filters, list_journals
        from chaosrunner.report.trend import WEIGHTINGS, compute_trend

        try:
            if weighting not in WEIGHTINGS:
                raise InvalidInput("--weighting", [("", f"{weighting!r}: expected one of {', '.join(WEIGHTINGS)}")])
            zone = zone_option(tz, calendar)
        except InvalidInput as e:
            raise _fail(e) from None
        now = datetime.now(UTC)
        listing = list_journals(_root(journal_dir), Filters(since=now - timedelta(weeks=weeks + 5)))
        _warn_problems(listing)
        result = compute_trend(listing.summaries, now, weeks=weeks, experiment=experiment, weighting=weighting, tz=zone)
        if html is not None:
            from chaosrunner.report.html import render_views

            text = render_views([], trend=result, title=f"Resilience trend, last {weeks} weeks")
            try:
                html.write_text(text, encoding="utf-8")
            except OSError as e:
                click.echo(f"{html}: cannot write: {e.strerror or e}", err=True)
                raise exit_with(2) from None
        if as_json:
            click.echo(json.dumps(result.to_json()))
            return
        print_trend(result)


def zone_option(tz: str | None, calendar: Path | None) -> Any:
    """The zone times are shown in: ``--tz``, else the ``--calendar``'s timezone, else UTC."""
    from datetime import UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from chaosrunner.core.validation import InvalidInput

    if tz:
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput("--tz", [("", f"{tz!r}: not an IANA time zone")]) from None
    if calendar is not None:
        from chaosrunner.calendar.model import load_calendar

        return load_calendar(calendar).zone
    return UTC


def print_trend(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from chaosrunner.report.formatting import fmt_ratio, fmt_seconds
    from chaosrunner.report.trend import verdicts_text

    console = Console(soft_wrap=False, width=max(140, Console().width))
    if not result.experiments:
        console.print(f"no runs in the last {result.weeks} weeks")
        return
    table = Table(title=f"Resilience trend, last {result.weeks} weeks", box=None, pad_edge=False)
    for col in (
        "experiment",
        "week",
        "runs",
        "verdicts",
        "aborts",
        "RTO (med)",
        "recover (med)",
        "budget (max)",
        "targets",
        "score",
    ):
        table.add_column(col, justify="right" if col not in ("experiment", "week", "verdicts") else "left")
    from rich.text import Text

    for e in result.experiments:
        for i, w in enumerate(e.weeks):
            table.add_row(
                Text(plain(e.title)) if i == 0 else "",
                w.week,
                str(w.runs),
                verdicts_text(w.verdicts),
                str(w.aborts),
                fmt_seconds(w.median_rto_s),
                fmt_seconds(w.median_time_to_recover_s),
                fmt_ratio(w.max_budget_spent),
                f"{w.targets_met}✓ {w.targets_missed}✗ {w.targets_unmeasured}?"
                if (w.targets_met + w.targets_missed + w.targets_unmeasured)
                else "—",
                "—" if w.score is None else f"{w.score:.0f}",
            )
        table.add_row(
            "",
            "weighted",
            str(e.runs),
            "",
            "",
            "",
            "",
            "",
            "",
            "—" if e.score is None else f"{e.score:.0f}",
            end_section=True,
        )
    console.print(table)
    overall = "—" if result.overall is None else f"{result.overall:.0f} / 100"
    console.print(f"resilience score ({result.weighting} weighting): {overall} (docs/review.md explains it)")
    for e in result.experiments:
        if e.per_slo:
            held = ", ".join(f"{n} held {r['held']}/{r['runs']}" for n, r in e.per_slo.items())
            console.print(Text(plain(f"  {e.title}: {held}")))
    for m in result.chaos_spend:
        bound = "≥ " if m["unknown"] else ""
        ceiling = m["ceiling"]
        mark = {True: "✓", False: "✗", None: "?"}[m["within_ceiling"]]
        console.print(
            f"error budget used by chaos in {m['month']}: {bound}{fmt_ratio(m['used'])} over {m['runs']} runs"
            + (f" ({m['unknown']} unknown)" if m["unknown"] else "")
            + (f", ceiling {fmt_ratio(ceiling)} {mark}" if ceiling is not None else "")
        )
