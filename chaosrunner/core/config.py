"""chaosrunner's configuration file, and where safety state lives.

One file, ``$CHAOSRUNNER_CONFIG`` or ``~/.config/chaosrunner/config.yaml`` (``$XDG_CONFIG_HOME`` is
honoured), holds the settings the environment variables also give; an environment variable wins over
the file. Every setting is optional:

```yaml
state: /var/lib/chaosrunner        # the state home ($CHAOSRUNNER_HOME)
journals: /var/lib/chaosrunner/journals   # the journal store ($CHAOSRUNNER_JOURNALS)
prometheus: http://127.0.0.1:9090  # where SLIs are read when an experiment names none ($CHAOSRUNNER_PROMETHEUS_URL)
alertmanager: http://127.0.0.1:9093  # no chaos while a critical alert fires ($CHAOSRUNNER_ALERTMANAGER_URL)
pushgateway: http://127.0.0.1:9091   # runs and active faults as metrics ($CHAOSRUNNER_PUSHGATEWAY_URL)
webhook: https://hooks.slack.com/services/…  # started/aborted/failed/fault left ($CHAOSRUNNER_WEBHOOK_URL)
```

**The state home** — kill switch, fault ledger, target locks, run leases, the scheduler's fire table —
is one place per host, never the current directory, so a ``halt`` typed in one shell reaches a run
started from another directory, by cron or by another user's shell of the same account:
``$CHAOSRUNNER_HOME``, else the file's ``state``, else ``/var/lib/chaosrunner`` for root and
``$XDG_STATE_HOME/chaosrunner`` (``~/.local/state/chaosrunner``) for other users. The journal store
defaults to ``<state home>/journals``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaosrunner.core.config_schema import ConfigFile

ROOT_STATE_HOME = Path("/var/lib/chaosrunner")
LEGACY_STATE = ".chaosrunner"  # where state lived before it had a home: the current directory


@dataclass(frozen=True)
class Setting:
    """An effective value and where it came from (``chaosrunner config show`` prints both)."""

    value: str | None
    source: str


def config_path() -> Path:
    if os.environ.get("CHAOSRUNNER_CONFIG"):
        return Path(os.environ["CHAOSRUNNER_CONFIG"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "chaosrunner" / "config.yaml"


_PARSED: dict[tuple[str, int, int], ConfigFile] = {}


def config_file() -> ConfigFile | None:
    """The configuration file's settings (None when there is none); bad content raises InvalidInput.

    Parsed once per content: settings are read on hot paths (the sentinel reads the kill switch, and so
    the fleet setting, every 0.1 s), so the file is only stat()ed again; a changed file (size or mtime) is
    parsed anew. Without a file nothing is validated, so a process that only reads settings (the
    watchdog, the reaper) never imports pydantic for them (start-up)."""
    path = config_path()
    try:
        st = path.stat()
    except OSError:
        return None
    if not path.is_file():
        return None
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _PARSED:
        from chaosrunner.core.config_schema import ConfigFile  # only when there is a file (start-up)
        from chaosrunner.core.validation import load_model

        _PARSED.clear()
        _PARSED[key] = load_model(ConfigFile, path)
    return _PARSED[key]


def _setting(env: str, key: str, default: str | None, default_source: str) -> Setting:
    if os.environ.get(env):
        return Setting(os.environ[env], f"${env}")
    found = config_file()
    value = getattr(found, key) if found is not None else None
    if value:
        return Setting(value, f"{config_path()}: {key}")
    return Setting(default, default_source)


def state_home_setting() -> Setting:
    if os.geteuid() == 0:
        return _setting("CHAOSRUNNER_HOME", "state", str(ROOT_STATE_HOME), "default for root")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return _setting("CHAOSRUNNER_HOME", "state", str(Path(base) / "chaosrunner"), "default ($XDG_STATE_HOME)")


def journals_setting() -> Setting:
    return _setting("CHAOSRUNNER_JOURNALS", "journals", str(Path(state_home_setting().value or "") / "journals"),
                    "default (<state home>/journals)")


def prometheus_setting() -> Setting:
    return _setting("CHAOSRUNNER_PROMETHEUS_URL", "prometheus", None, "not set (the sandbox's, when it is up)")


def alertmanager_setting() -> Setting:
    return _setting("CHAOSRUNNER_ALERTMANAGER_URL", "alertmanager", None, "not set (no outage check)")


def pushgateway_setting() -> Setting:
    return _setting("CHAOSRUNNER_PUSHGATEWAY_URL", "pushgateway", None, "not set (no metrics pushed)")


def webhook_setting() -> Setting:
    return _setting("CHAOSRUNNER_WEBHOOK_URL", "webhook", None, "not set (no notifications)")


def fleet_setting() -> Setting:
    return _setting("CHAOSRUNNER_FLEET", "fleet", None, "not set (the kill switch is this host's)")


def journals_s3_setting() -> Setting:
    return _setting("CHAOSRUNNER_JOURNALS_S3", "journals_s3", None, "not set (journals stay on this host)")


def effective() -> dict[str, Setting]:
    return {"state": state_home_setting(), "journals": journals_setting(), "prometheus": prometheus_setting(),
            "alertmanager": alertmanager_setting(), "pushgateway": pushgateway_setting(),
            "webhook": webhook_setting(), "fleet": fleet_setting(), "journals_s3": journals_s3_setting()}
