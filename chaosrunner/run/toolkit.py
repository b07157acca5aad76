"""How ``chaos run`` prepares a run, mirrored: settings, global controls, the runtime block, the
hypothesis strategy and schedule, dry mode, notifications and the activity cache.

``chaos run`` (chaostoolkit 1.19 ``commands/run.py``) does this around ``chaoslib``'s run; chaosrunner
calls chaoslib's ``Runner`` itself, so everything the CLI adds has to be added here, in the same order,
or experiments that run under ``chaos run`` lose their controls, their ``ref`` activities or their
strategies. Where chaosrunner deliberately differs (rollbacks always), :func:`prepare` says so in one log
line; docs/compatibility.md lists every difference.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoslib.caching import cache_activities, clear_cache
from chaoslib.control import load_global_controls
from chaoslib.notification import RunFlowEvent, notify
from chaoslib.settings import CHAOSTOOLKIT_CONFIG_PATH, load_settings
from chaoslib.types import Dry, Schedule, Strategy

log = logging.getLogger("chaosrunner.run")

ROLLBACK_STRATEGY = "always"  # chaosrunner's own: rollbacks run after every outcome
ROLLBACK_STRATEGIES = ("default", "always", "never", "deviated")  # what chaos run accepts
HYPOTHESIS_STRATEGIES = (
    "default",
    "before-method-only",
    "after-method-only",
    "during-method-only",
    "continuously",
    "continously",  # chaostoolkit still accepts the old spelling
)
DRY_MODES = ("probes", "actions", "activities", "pause")


class ToolkitError(ValueError):
    """A run option or settings file chaosrunner cannot honour (bad input: exit 2)."""


@dataclass
class ToolkitOptions:
    """What ``chaos run`` takes on its command line besides the experiment and its vars."""

    settings_path: Path | None = None  # None: $CHAOSTOOLKIT settings default, ~/.chaostoolkit/settings.yaml
    control_files: list[Path] = field(default_factory=list)
    rollback_strategy: str | None = None  # asked for on the command line (only "always" is honoured)
    hypothesis_strategy: str | None = None
    hypothesis_frequency: float = 1.0
    fail_fast: bool = False
    dry: str | None = None


@dataclass
class Prepared:
    """The run as chaoslib's ``Runner`` needs it."""

    settings: dict[str, Any]
    strategy: Strategy
    schedule: Schedule
    dry: Dry | None
    overrides: list[str]  # one sentence per setting chaosrunner overrode


def load_run_settings(path: Path | None) -> dict[str, Any]:
    """The Chaos Toolkit settings file (default ``~/.chaostoolkit/settings.yaml``), as ``chaos run``
    reads it: absent → ``{}``. Unlike chaoslib, a file that exists but does not parse is refused
    (a run silently without its configured controls is what this module exists to prevent)."""
    p = Path(path) if path is not None else Path(CHAOSTOOLKIT_CONFIG_PATH)
    if not p.exists():
        if path is not None:
            raise ToolkitError(f"{p}: no such settings file")
        return {}
    settings = load_settings(str(p))  # also sets chaoslib's loaded settings (controls read them)
    if settings is None:
        raise ToolkitError(f"{p}: not a valid YAML settings file")
    if not isinstance(settings, dict):
        raise ToolkitError(f"{p}: settings must be a mapping")
    return settings


def prepare(experiment: dict[str, Any], options: ToolkitOptions) -> Prepared:
    """Settings, global controls (settings + ``--control-file``), runtime strategies, schedule, dry:
    chaostoolkit's ``run`` command, step by step. The settings' and the experiment's ``runtime`` are
    honoured except the rollback strategy, which chaosrunner keeps at ``always`` (logged when a
    different one was asked for)."""
    settings = load_run_settings(options.settings_path)
    try:
        load_global_controls(settings, [str(f) for f in options.control_files])
    except (OSError, ValueError, AttributeError, TypeError) as e:
        raise ToolkitError(f"cannot load the global controls: {type(e).__name__}: {e}") from None

    runtime = settings.setdefault("runtime", {})
    if not isinstance(runtime, dict):
        raise ToolkitError("settings: runtime must be a mapping")
    rollbacks = runtime.setdefault("rollbacks", {})
    hypothesis = runtime.setdefault("hypothesis", {})
    asked_rollbacks = rollbacks.get("strategy")
    asked_hypothesis = hypothesis.get("strategy", "default")
    exp_runtime = experiment.get("runtime")
    if isinstance(exp_runtime, dict):  # chaostoolkit: the experiment's runtime wins over the settings'
        asked_rollbacks = (exp_runtime.get("rollbacks") or {}).get("strategy", asked_rollbacks)
        asked_hypothesis = (exp_runtime.get("hypothesis") or {}).get("strategy", "default")
    if options.rollback_strategy is not None:
        asked_rollbacks = options.rollback_strategy
    if options.hypothesis_strategy is not None:
        asked_hypothesis = options.hypothesis_strategy

    overrides = []
    if asked_rollbacks not in (None, ROLLBACK_STRATEGY):
        overrides.append(
            f"rollback strategy '{asked_rollbacks}' overridden: chaosrunner always plays the rollbacks "
            "(a fault left in place is what it exists to prevent)"
        )
    rollbacks["strategy"] = ROLLBACK_STRATEGY
    if asked_hypothesis not in HYPOTHESIS_STRATEGIES:
        raise ToolkitError(
            f"hypothesis strategy '{asked_hypothesis}' is not one of {', '.join(HYPOTHESIS_STRATEGIES[:-1])}"
        )
    if asked_hypothesis == "continously":
        asked_hypothesis = "continuously"
    hypothesis["strategy"] = asked_hypothesis
    if not options.hypothesis_frequency > 0:
        raise ToolkitError("hypothesis frequency must be a positive number of seconds")
    if options.dry is not None and options.dry not in DRY_MODES:
        raise ToolkitError(f"dry mode '{options.dry}' is not one of {', '.join(DRY_MODES)}")
    for line in overrides:
        log.warning(line)
    return Prepared(
        settings=settings,
        strategy=Strategy.from_string(asked_hypothesis),
        schedule=Schedule(continuous_hypothesis_frequency=options.hypothesis_frequency, fail_fast=options.fail_fast),
        dry=Dry.from_string(options.dry) if options.dry else None,
        overrides=overrides,
    )


@contextmanager
def activity_cache(experiment: dict[str, Any]) -> Iterator[None]:
    """chaoslib resolves ``ref`` activities through a module-level cache that ``chaos run`` fills
    (``run_experiment`` is decorated with ``with_cache``); chaosrunner drives ``Runner`` itself, so it
    fills and clears the cache here."""
    cache_activities(experiment)
    try:
        yield
    finally:
        clear_cache()


def notify_started(settings: dict[str, Any], experiment: dict[str, Any]) -> None:
    _notify(settings, RunFlowEvent.RunStarted, experiment)


def notify_ended(settings: dict[str, Any], journal: dict[str, Any]) -> None:
    """The notifications ``chaos run`` sends once the journal is complete: completed or failed, and
    deviated."""
    if journal.get("status") == "completed":
        _notify(settings, RunFlowEvent.RunCompleted, journal)
    else:
        _notify(settings, RunFlowEvent.RunFailed, journal)
    if journal.get("deviated"):
        _notify(settings, RunFlowEvent.RunDeviated, journal)


def _notify(settings: dict[str, Any], event: RunFlowEvent, payload: dict[str, Any]) -> None:
    if not settings.get("notifications"):
        return
    try:
        notify(settings, event, payload)
    except Exception as e:  # noqa: BLE001 - a notification channel never changes a run's outcome
        log.warning("notification %s failed: %s: %s", event.value, type(e).__name__, e)
