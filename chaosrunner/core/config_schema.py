"""The configuration file's keys, validated (every key optional, unknown keys refused); what each one
means is in :mod:`chaosrunner.core.config`."""

from __future__ import annotations

from pydantic import ConfigDict

from chaosrunner.core.validation import Model


class ConfigFile(Model):
    model_config = ConfigDict(extra="forbid")

    state: str | None = None
    journals: str | None = None
    prometheus: str | None = None
    alertmanager: str | None = None
    pushgateway: str | None = None
    webhook: str | None = None
    fleet: str | None = None  # PostgreSQL URL: one kill switch for every host that names it
    journals_s3: str | None = None  # s3://bucket/prefix: finished runs' journals copied there (journal/s3.py)
