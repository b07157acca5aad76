"""Waiting for the truth with a deadline: how every asynchronous cloud action here ends.

Nothing in this module is AWS-specific; the Kubernetes drivers use it too. AWS answers a mutating call
long before the change is real (an instance is ``shutting-down``, a cluster ``failing-over``, an SSM
command ``Pending``), and Kubernetes accepts a DELETE while the pod stays Terminating. Our drivers
therefore poll a *check* until it reports the end state, and give up with
:class:`~chaoslib.exceptions.ActivityFailed` at a deadline, naming what was awaited and the last state
seen: the run fails closed instead of passing on a change that never came.

Time comes from an injectable :class:`~chaosrunner.core.clock.Clock`, so tests replay minutes-long AWS
timelines in microseconds with a :class:`~chaosrunner.core.clock.FakeClock`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from chaoslib.exceptions import ActivityFailed

from chaosrunner.core.clock import Clock, SystemClock

T = TypeVar("T")


@dataclass(frozen=True)
class Seen(Generic[T]):
    """One look at the cloud: ``done`` when the awaited end state is reached; ``value`` what was seen
    (returned when done, quoted in the timeout error otherwise)."""

    done: bool
    value: T


@dataclass(frozen=True)
class Waited(Generic[T]):
    value: T
    seconds: float  # from the first look to the look that saw the end state


def poll(
    check: Callable[[], Seen[T]],
    *,
    what: str,
    timeout_s: float,
    poll_s: float,
    clock: Clock | None = None,
) -> Waited[T]:
    """Look every ``poll_s`` seconds until ``check`` is done; ActivityFailed after ``timeout_s`` seconds.

    The check is called at least once, even with a zero timeout. A check that finds a terminal failure
    (a command ``Failed``) raises itself; that error propagates at once.
    """
    if poll_s <= 0 or timeout_s < 0:
        raise ValueError(f"poll_s must be > 0 and timeout_s >= 0 (got {poll_s}, {timeout_s})")
    clk = clock or SystemClock()
    start = clk.monotonic()
    while True:
        seen = check()
        elapsed = clk.monotonic() - start
        if seen.done:
            return Waited(seen.value, round(elapsed, 3))
        if elapsed + poll_s > timeout_s:
            raise ActivityFailed(f"{what}: not reached after {timeout_s:g} s; last seen: {_short(seen.value)}")
        clk.sleep(poll_s)


def _short(value: Any, limit: int = 400) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
