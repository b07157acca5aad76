"""The live view of a running experiment on a terminal: one region at the bottom of the screen, redrawn in
place, with the log lines scrolling above it. Off the terminal it does nothing (log lines carry the story).

The region: the experiment's title; the phase, the activity under way, the time elapsed and the time left
before ``max_duration`` (counted from the method's start, as the guard counts it); the last guard sample,
one row per SLO reading, in-scope first, cut to the terminal's height (the journal keeps every reading);
the abort's reason once there is one. It never grows taller than the terminal, so nothing is left behind
on the screen when it is redrawn.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import datetime
from types import TracebackType
from typing import Any

SCOPE_ORDER = {"in": 0, "service": 1, "out": 2}


class LiveView:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._live: Any = None
        self._moved: list[tuple[logging.StreamHandler[Any], Any]] = []
        self._t0 = time.monotonic()

    def __enter__(self) -> LiveView:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            before = sys.stderr
            self._live = Live(console=Console(stderr=True), refresh_per_second=4, transient=False,
                              redirect_stderr=True, vertical_overflow="crop")
            self._live.__enter__()
            # log handlers hold the stream they were made with: point them at rich's proxy, so log lines
            # print above the live region instead of through it
            for h in logging.getLogger().handlers:
                if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is before:
                    self._moved.append((h, h.setStream(sys.stderr)))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None
            for h, old in self._moved:
                h.setStream(old)
            self._moved.clear()

    def update(self, section: dict[str, Any]) -> None:
        if self._live is not None:
            size = self._live.console.size
            self._live.update(render(section, elapsed_s=time.monotonic() - self._t0, width=size.width,
                                     height=size.height))


def _clock(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60}:{s % 60:02d}"


def _method_start(section: dict[str, Any]) -> datetime | None:
    for a in section.get("activities") or []:
        if a.get("phase") == "method" and a.get("start"):
            try:
                return datetime.fromisoformat(str(a["start"]))
            except ValueError:
                return None
    return None


def status_line(section: dict[str, Any], elapsed_s: float, now: datetime | None = None) -> str:
    acts = section.get("activities") or []
    parts = []
    if acts:
        a = acts[-1]
        parts.append(f"{a.get('phase')} · {a.get('name')} ({a.get('status')})")
    parts.append(f"elapsed {_clock(elapsed_s)}")
    limit = ((section.get("blast_radius") or {}).get("declared") or {}).get("max_duration")
    started = _method_start(section)
    if isinstance(limit, int | float) and started is not None and section.get("verdict") == "running":
        used = ((now or datetime.now(started.tzinfo)) - started).total_seconds()
        parts.append(f"max_duration left {_clock(limit - used)}")
    return " · ".join(parts)


def render(section: dict[str, Any], *, elapsed_s: float = 0.0, width: int = 80, height: int = 24,
           now: datetime | None = None) -> Any:
    """A rich renderable of the journal section, at most ``height`` lines of ``width`` (pure: testable
    without a terminal)."""
    from rich import box
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    title = Text(f"{section.get('verdict')} · {section.get('experiment_title', '')}", style="bold",
                 overflow="ellipsis", no_wrap=True)  # the verdict first: a narrow terminal cuts the title
    status = Text(status_line(section, elapsed_s, now), overflow="ellipsis", no_wrap=True)
    parts: list[Any] = [title, status]
    abort = section.get("abort")
    if abort:
        parts.append(Text(f"abort: {abort.get('reason')}", style="bold red", overflow="ellipsis", no_wrap=True))
    samples = (section.get("guard") or {}).get("samples") or []
    if samples:
        last = samples[-1]
        readings = sorted((last.get("slos") or {}).items(),
                          key=lambda kv: (SCOPE_ORDER.get(str(kv[1].get("scope")), 3), kv[0]))
        room = max(1, height - len(parts) - 6)  # header, rule, border lines, one line of slack
        table = Table(box=box.SIMPLE_HEAD, expand=False, pad_edge=False)
        table.add_column("SLO reading", overflow="ellipsis", no_wrap=True, max_width=max(20, width - 40))
        table.add_column("scope", no_wrap=True)
        table.add_column("SLI", justify="right", no_wrap=True)
        table.add_column("burn", justify="right", no_wrap=True)
        shown = readings if len(readings) <= room else readings[: room - 1]
        for name, r in shown:
            sli, burn = r.get("sli"), r.get("burn_rate")
            table.add_row(escape(name), escape(str(r.get("scope", "in")) + (" client" if r.get("vantage") else "")),
                          "no data" if sli is None else f"{sli:.4g}",
                          "—" if burn is None else Text(f"{burn:.2f}x", style="red" if burn > 1 else ""))
        if len(shown) < len(readings):
            table.add_row(f"… {len(readings) - len(shown)} more (in the journal)", "", "", "")
        spent = last.get("budget_spent")
        if spent is not None:
            table.caption = f"budget spent {spent * 100:.3f} %"
        parts.append(table)
    return Group(*parts)
