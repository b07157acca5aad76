"""Region types and what each can take over: one table for the preflight, the sandbox and the reports.

The practice's multi-region strategy has three region types:

* **Full** — serves reads and writes from its own database (it holds the primary, or can be promoted to);
* **Read-Only** — serves reads from a local replica; refuses writes;
* **Lightweight** — stateless serving only: no database of its own; it serves what it has cached, and
  writes and uncached reads only while a Full region's database is reachable over the inter-region link.

So when regions are taken out, the survivors can take over reads if any survivor is Full or Read-Only (or
Lightweight, backed by a reachable Full database), and writes only if a Full region survives, or a
Lightweight one while the Full region's database (not its serving tier) stays reachable.
"""

from __future__ import annotations

from collections.abc import Iterable

REGION_TYPES = ("Full", "Read-Only", "Lightweight")

# what a region of each type serves on its own, and what it serves with a Full region's database behind it
SERVES_ALONE = {"Full": ("reads", "writes"), "Read-Only": ("reads",), "Lightweight": ("cached reads",)}
SERVES_WITH_FULL_DATABASE = {"Full": ("reads", "writes"), "Read-Only": ("reads",),
                             "Lightweight": ("reads", "writes")}


def serves(region_type: str, full_database_reachable: bool = True) -> tuple[str, ...]:
    """What a region of ``region_type`` serves; unknown types serve nothing we can promise."""
    table = SERVES_WITH_FULL_DATABASE if full_database_reachable else SERVES_ALONE
    return table.get(region_type, ())


def takeover(survivor_types: Iterable[str], full_database_reachable: bool) -> set[str]:
    """What the surviving regions (by type) can take over between them."""
    out: set[str] = set()
    for t in survivor_types:
        out.update(serves(t, full_database_reachable))
    if "reads" in out:
        out.discard("cached reads")
    return out
