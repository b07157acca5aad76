"""Line charts laid out server-side as SVG coordinates (pure), so the HTML needs no JavaScript.

Long series are downsampled (min/max per bucket, so spikes survive) to :data:`MAX_POINTS`. Inputs are
(elapsed seconds, value) pairs; a ``%`` unit means the values are ratios, shown ×100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chaosrunner.report.formatting import fmt_number, fmt_ratio, fmt_seconds

MAX_POINTS = 400  # per series, after downsampling: plenty for a 600 px wide chart
CHART_W, CHART_H = 640.0, 170.0
PAD_L, PAD_R, PAD_T, PAD_B = 72.0, 26.0, 10.0, 26.0
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]


@dataclass
class Marker:
    """A moment in the run: injection, detection, abort, rollback, recovery."""

    kind: str
    label: str
    at: datetime
    x: float = 0.0  # SVG x in the chart or timeline it is placed on


@dataclass
class Series:
    name: str
    color: str
    points: str  # "x,y x,y ..." in chart coordinates
    last: str
    peak: str
    count: int


@dataclass
class Chart:
    key: str  # "sli" | "burn" | "budget": a stable DOM hook
    title: str
    series: list[Series]
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    threshold: tuple[float, str] | None
    markers: list[Marker]
    width: float = CHART_W
    height: float = CHART_H


def downsample(points: list[tuple[float, float]], limit: int = MAX_POINTS) -> list[tuple[float, float]]:
    """Keep at most ``limit`` points: per bucket the min and the max (in time order), so peaks show."""
    if len(points) <= limit:
        return points
    buckets = max(1, limit // 2)
    size = len(points) / buckets
    out: list[tuple[float, float]] = []
    for b in range(buckets):
        chunk = points[int(b * size) : int((b + 1) * size)]
        if not chunk:
            continue
        lo = min(chunk, key=lambda p: p[1])
        hi = max(chunk, key=lambda p: p[1])
        out.extend(sorted({lo, hi}, key=lambda p: p[0]))
    return out


def nice_ceiling(v: float) -> float:
    """The next 'round' number ≥ v (1, 2, 2.5, 5 × 10^k) for a y-axis top."""
    if v <= 0 or not math.isfinite(v):
        return 1.0
    exp = math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        top = m * 10**exp
        if top >= v * (1 - 1e-9):
            return float(top)
    return float(10 ** (exp + 1))


def finite(v: Any) -> float | None:
    """A JSON number as a finite float; None for anything else (bool, NaN, text, absent)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _xscale(lo: float, hi: float) -> tuple[float, float]:
    span = hi - lo if hi > lo else 1.0
    return lo, (CHART_W - PAD_L - PAD_R) / span


def _time_ticks(lo: float, hi: float, x0: float, k: float, n: int = 6) -> list[tuple[float, str]]:
    span = hi - lo if hi > lo else 1.0
    step = nice_ceiling(span / n)
    ticks: list[tuple[float, str]] = []
    t = math.ceil(lo / step) * step
    while t <= hi + 1e-9 and len(ticks) < 20:
        ticks.append((PAD_L + (t - x0) * k, fmt_seconds(t) if t else "0"))
        t += step
    return ticks


def build_chart(
    key: str,
    title: str,
    series: dict[str, list[tuple[float, float]]],
    *,
    unit: str,
    threshold: float | None = None,
    threshold_label: str = "",
    markers: list[tuple[str, str, float]] | None = None,
) -> Chart:
    """Lay out one line chart. ``series`` values are (elapsed seconds, value); ``unit`` '%' scales ×100."""
    scale = 100.0 if unit == "%" else 1.0
    xs = [p[0] for pts in series.values() for p in pts]
    ys = [p[1] * scale for pts in series.values() for p in pts]
    lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    x0, k = _xscale(lo, hi)
    top_v = max([*ys, (threshold or 0.0) * scale, 0.0])
    top = nice_ceiling(top_v * 1.05) if top_v > 0 else 1.0
    plot_h = CHART_H - PAD_T - PAD_B

    def y(v: float) -> float:
        return PAD_T + plot_h * (1 - min(max(v / top, 0.0), 1.05))

    out_series = []
    for i, (name, pts) in enumerate(series.items()):
        pts = downsample(pts)
        coords = " ".join(f"{PAD_L + (px - x0) * k:.1f},{y(py * scale):.1f}" for px, py in pts)
        vals = [p[1] for p in pts]
        fmt = (lambda v: fmt_ratio(v)) if unit == "%" else (lambda v: f"{fmt_number(v)}{unit}")
        out_series.append(
            Series(
                name=name,
                color=PALETTE[i % len(PALETTE)],
                points=coords,
                last=fmt(vals[-1]) if vals else "—",
                peak=fmt(max(vals)) if vals else "—",
                count=len(series[name]),
            )
        )
    y_ticks = [(y(top * f), _tick_label(top * f, unit)) for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
    thr = None
    if threshold is not None:
        thr = (y(threshold * scale), threshold_label)
    placed = []
    for kind, label, at in markers or []:
        if lo <= at <= hi:
            placed.append(Marker(kind, label, datetime.min, PAD_L + (at - x0) * k))
    return Chart(
        key=key,
        title=title,
        series=out_series,
        y_ticks=y_ticks,
        x_ticks=_time_ticks(lo, hi, x0, k),
        threshold=thr,
        markers=placed,
    )


def _tick_label(v: float, unit: str) -> str:
    text = f"{v:.6f}".rstrip("0").rstrip(".") if v < 1000 else f"{v:.0f}"
    return f"{text} %" if unit == "%" else f"{text}{unit}"
