"""Where one ``chaosrunner run`` of a trivial experiment spends its time, phase by phase, measured inside a
fresh interpreter (leading underscore: not a benchmark itself; bench/runner_overhead.py runs it N times).

Phases: the command line (click and our command modules); chaoslib, imported first so that what it
shares with pydantic (importlib.metadata, email…) counts where ``chaos run`` pays for it too; pydantic;
the experiment's models and loader; the rest of the engine; loading and validating the file (deferred
validators built here); the run, split into chaoslib's ``Runner.run`` (our journal rewrites after each
activity happen inside it) and chaosrunner's own work around it (lease, ledger, watchdog spawn,
preflight, verdict). Everything after chaoslib is what chaosrunner adds. Prints one JSON object of ms.

Run: ``python -m bench._startup_phases EXPERIMENT`` with CHAOSRUNNER_HOME/JOURNALS set.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from typing import Any

MARKS: list[tuple[str, float]] = [("start", time.perf_counter())]


def mark(name: str) -> None:
    MARKS.append((name, time.perf_counter()))


def main(path: str) -> None:
    import chaosrunner.cli  # noqa: F401

    mark("command line (click, command modules)")
    import chaoslib.run

    mark("chaoslib (with requests)")
    from pydantic import BaseModel

    class _First(BaseModel):  # pydantic's machinery loads on the first model class
        x: int = 0

    mark("pydantic")
    from chaosrunner.experiment.loader import load_experiment_source

    mark("experiment models, loader, YAML")
    from chaosrunner.experiment.variables import load_variables
    from chaosrunner.run import runner
    from chaosrunner.run.state import RunOptions

    mark("chaosrunner engine")
    exp = load_experiment_source(path, verify_tls=True)
    variables = load_variables([], [])
    mark("load and validate the experiment")
    in_chaoslib = [0.0]
    original = chaoslib.run.Runner.run

    @functools.wraps(original)
    def timed_run(self: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            in_chaoslib[0] += time.perf_counter() - t0

    chaoslib.run.Runner.run = timed_run  # type: ignore[method-assign]
    logging.disable()
    t0 = time.perf_counter()
    runner.run_experiment(exp, RunOptions(variables=variables.configuration, secrets=variables.secrets))
    run_s = time.perf_counter() - t0
    out = {name: round((t - MARKS[i][1]) * 1000, 2) for i, (name, t) in enumerate(MARKS[1:])}
    out["run: chaoslib's Runner.run"] = round(in_chaoslib[0] * 1000, 2)
    out["run: chaosrunner around it"] = round((run_s - in_chaoslib[0]) * 1000, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
