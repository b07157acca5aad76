"""The live view of a running experiment on a terminal: phase, current activity, SLO values, burn
rate, budget spent and time left. Off the terminal it does nothing (log lines carry the story)."""

from __future__ import annotations

from types import TracebackType
from typing import Any


class LiveView:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._live: Any = None

    def __enter__(self) -> LiveView:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(stderr=True), refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def update(self, section: dict[str, Any]) -> None:
        if self._live is not None:
            self._live.update(render(section))


def render(section: dict[str, Any]) -> Any:
    """A rich renderable of the chaosrunner journal section (pure: testable without a terminal)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"{section.get('experiment_title', '')} — {section.get('verdict')}"), expand=False)
    table.add_column("what")
    table.add_column("value")
    acts = section.get("activities") or []
    if acts:
        a = acts[-1]
        table.add_row("activity", escape(f"[{a.get('phase')}] {a.get('name')}: {a.get('status')}"))
    guard = section.get("guard") or {}
    samples = guard.get("samples") or []
    if samples:
        last = samples[-1]
        for name, slo in (last.get("slos") or {}).items():
            sli = slo.get("sli")
            burn = slo.get("burn_rate")
            table.add_row(
                escape(f"SLO {name} ({slo.get('scope', 'in')})"),
                f"SLI {sli if sli is None else f'{sli:.4g}'}  burn {burn if burn is None else f'{burn:.2f}x'}",
            )
        spent = last.get("budget_spent")
        if spent is not None:
            table.add_row("budget spent", f"{spent * 100:.3f} %")
        if last.get("time_left_s") is not None:
            table.add_row("time left", f"{last['time_left_s']:.0f} s")
    if section.get("abort"):
        table.add_row("abort", escape(str(section["abort"].get("reason"))))
    return table
