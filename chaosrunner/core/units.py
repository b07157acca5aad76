"""Units used in content files, parsed once, into SI base units.

* ``Duration``: ``"500ms"``, ``"1s"``, ``"10m"``, ``"2h"``, ``"30d"``, ``"1w"`` or a bare number of
  seconds → ``float`` seconds (> 0 unless the field says otherwise).
* ``Ratio``: ``"1%"`` → ``0.01``; a bare number ``<= 1`` is taken as a ratio (``0.01``), a bare number
  ``> 1`` as a percentage (``99.9`` → ``0.999``). Always within ``[0, 1]``.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from a duration string or number; raises ValueError with a readable message."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as '500ms', '30s', '10m', '2h' or '30d'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _FACTORS[m.group(2)]
    else:
        raise ValueError("must be a duration such as '500ms', '30s', '10m', '2h' or '30d'")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("must be a non-negative, finite duration")
    if seconds > 366 * 86400:
        raise ValueError("must be at most one year")
    return seconds


def parse_ratio(value: Any) -> float:
    """A ratio in [0, 1] from '1%', 0.01 or 99.9 (see module doc)."""
    if isinstance(value, bool):
        raise ValueError("must be a percentage such as '1%' or a ratio such as 0.01")
    if isinstance(value, str):
        text = value.strip()
        try:
            ratio = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError("must be a percentage such as '1%' or a ratio such as 0.01") from None
        if not text.endswith("%") and ratio > 1:
            ratio /= 100.0
    elif isinstance(value, int | float):
        ratio = float(value) / 100.0 if value > 1 else float(value)
    else:
        raise ValueError("must be a percentage such as '1%' or a ratio such as 0.01")
    if not math.isfinite(ratio) or not 0.0 <= ratio <= 1.0:
        raise ValueError("must be between 0% and 100%")
    return ratio


Duration = Annotated[float, BeforeValidator(parse_duration)]
Ratio = Annotated[float, BeforeValidator(parse_ratio)]
