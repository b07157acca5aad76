"""How reports write numbers: seconds, ratios as percent, plain values; absence is "—", never 0.

Shared by the HTML and Markdown reports and the terminal (``journal show``/``list``/``trend``), so a
duration or a budget reads the same everywhere.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo
from typing import Any


def fmt_seconds(v: float | None) -> str:
    """Seconds → '850 ms', '12.5 s', '3 min 04 s', '2 h 05 min'; None → '—'."""
    if v is None or not math.isfinite(v):
        return "—"
    if abs(v) < 1:
        return f"{v * 1000:.0f} ms"
    if abs(v) < 60:
        return f"{v:.1f} s"
    if abs(v) < 3600:
        return f"{int(v // 60)} min {int(v % 60):02d} s"
    return f"{int(v // 3600)} h {int(v % 3600 // 60):02d} min"


def fmt_ratio(v: float | None) -> str:
    """Ratio → percent, three significant digits, never scientific: 0.0123 → '1.23 %', tiny → '< 0.0001 %'."""
    if v is None or not math.isfinite(v):
        return "—"
    pct = v * 100
    if pct == 0:
        return "0 %"
    if abs(pct) < 0.0001:
        return "< 0.0001 %" if pct > 0 else "> -0.0001 %"
    decimals = min(4, max(0, 2 - math.floor(math.log10(abs(pct)))))
    return f"{pct:.{decimals}f} %"


def fmt_number(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v:.4g}"


def fmt_value(v: Any) -> str:
    """Any JSON value as short text for tables (lists joined, dicts as k=v)."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return fmt_number(v)
    if isinstance(v, list):
        return ", ".join(fmt_value(x) for x in v) or "—"
    if isinstance(v, dict):
        return ", ".join(f"{k}={fmt_value(x)}" for k, x in v.items()) or "—"
    return str(v)


def fmt_time(iso: str | None, tz: tzinfo = UTC) -> str:
    """An ISO-8601 time in ``tz`` (the calendar's zone), to the second: '2026-11-16 15:00:00 CET'.
    Unparseable text is shown as it is; None → '—'."""
    if not iso:
        return "—"
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    local = t.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".rstrip()
