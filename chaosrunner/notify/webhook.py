"""Chat notifications: a JSON POST per event to ``$CHAOSRUNNER_WEBHOOK_URL`` (or ``webhook:`` in the config
file), shaped for Slack's incoming webhooks (``{"text": …}``) with the details beside it for other tools
(``{"chaosrunner": {"event", "run_id", "experiment", "verdict", "reason", …}}``).

Events: ``started``, ``passed``, ``aborted``, ``failed``, ``fault-left`` (a rollback failed: a fault may still
be in place — the one a human must act on), ``recovered`` (a keeper reverted a run that died). The reason
texts come from the journal, secrets already redacted. Sent through the outbox: a webhook that hangs never
delays an abort or a rollback.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from chaosrunner.core.config import webhook_setting
from chaosrunner.notify.outbox import outbox

TIMEOUT_S = 5.0
ICONS = {"started": ":test_tube:", "passed": ":white_check_mark:", "aborted": ":octagonal_sign:",
         "failed": ":x:", "fault-left": ":rotating_light:", "recovered": ":ambulance:"}
VERDICT_EVENTS = {"passed": "passed", "aborted": "aborted", "failed": "failed", "deviated": "failed",
                  "rollback-failed": "fault-left"}


def notify(event: str, run_id: str, experiment: str, **details: Any) -> None:
    """Queue one notification (no-op without a webhook)."""
    url = webhook_setting().value
    if not url:
        return
    what = f"{ICONS.get(event, '')} chaosrunner: *{experiment}* {event}".strip()
    reason = details.get("reason")
    text = f"{what} (run `{run_id}`)" + (f": {reason}" if reason else "")
    body = json.dumps({"text": text, "chaosrunner": {"event": event, "run_id": run_id, "experiment": experiment,
                                                     **details}}, default=str).encode()

    def send() -> None:
        req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=TIMEOUT_S):  # noqa: S310 - http(s) URL from config
            pass

    outbox().send(f"webhook {event} {run_id}", send)


def verdict_event(verdict: str) -> str | None:
    """The event a verdict is announced as (refusals and invalid input are not announced)."""
    return VERDICT_EVENTS.get(verdict)
