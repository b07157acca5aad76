"""Controls for the compatibility corpus, following chaoslib's documented python control hooks.
Each hook leaves a line in the file named by the ``trace`` argument; the journal-editing hooks append
to the run / rollbacks lists and to the journal itself, as chaoslib allows."""

from __future__ import annotations

from typing import Any


def _mark(trace: str, text: str) -> None:
    with open(trace, "a") as f:
        f.write(text + "\n")


def configure_control(trace: str = "", label: str = "control", **kwargs: Any) -> None:
    if trace:
        _mark(trace, f"{label}:configure")


def before_experiment_control(context: dict, trace: str = "", label: str = "control", **kwargs: Any) -> None:
    _mark(trace, f"{label}:before-experiment")


def after_experiment_control(context: dict, state: dict, trace: str = "", label: str = "control",
                             edit: bool = False, **kwargs: Any) -> None:
    _mark(trace, f"{label}:after-experiment:{state.get('status')}")
    if edit:
        state.setdefault("control_notes", []).append(f"{label} saw the end")


def before_method_control(context: dict, trace: str = "", label: str = "control", **kwargs: Any) -> None:
    _mark(trace, f"{label}:before-method")


def after_method_control(context: dict, state: Any, trace: str = "", label: str = "control",
                         edit: bool = False, **kwargs: Any) -> None:
    _mark(trace, f"{label}:after-method")
    if edit and isinstance(state, list):
        state.append({"activity": {"type": "action", "name": f"{label}-method-note",
                                   "provider": {"type": "python", "module": "x", "func": "y"}},
                      "status": "succeeded", "output": None})
        state.append(f"{label}: a note that is not a run record")


def before_rollback_control(context: dict, trace: str = "", label: str = "control", **kwargs: Any) -> None:
    _mark(trace, f"{label}:before-rollback")


def after_rollback_control(context: dict, state: Any, trace: str = "", label: str = "control",
                           edit: bool = False, **kwargs: Any) -> None:
    _mark(trace, f"{label}:after-rollback")
    if edit and isinstance(state, list):
        state.append(f"{label}: rollbacks reviewed")


def before_hypothesis_control(context: dict, trace: str = "", label: str = "control", **kwargs: Any) -> None:
    _mark(trace, f"{label}:before-hypothesis")


def after_hypothesis_control(context: dict, state: Any, trace: str = "", label: str = "control",
                             **kwargs: Any) -> None:
    _mark(trace, f"{label}:after-hypothesis")


def before_activity_control(context: dict, trace: str = "", label: str = "control", **kwargs: Any) -> None:
    _mark(trace, f"{label}:before-activity:{context.get('name')}")


def after_activity_control(context: dict, state: Any, trace: str = "", label: str = "control",
                           **kwargs: Any) -> None:
    _mark(trace, f"{label}:after-activity:{context.get('name')}:{(state or {}).get('status')}")
