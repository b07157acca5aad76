"""boto3 clients with timeouts, configured the way chaosaws configures its own.

chaosaws' ``aws_client`` sets no timeouts; ours do (connect 3 s, read 10 s, 2 attempts), so a hung
endpoint fails an activity instead of hanging a run. The region comes from, in order: an explicit
``region`` argument, ``configuration["aws_region"]``, ``$AWS_REGION`` / ``$AWS_DEFAULT_REGION``.
Credentials come from ``secrets`` (like chaosaws) or boto3's usual chain; the endpoint from boto3's
``AWS_ENDPOINT_URL`` (how the tests point everything at a moto server).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0


def region_of(configuration: Mapping[str, Any] | None = None, region: str | None = None) -> str:
    """The AWS region to talk to; ValueError when none is configured anywhere."""
    found = (
        region
        or (configuration or {}).get("aws_region")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
    )
    if not found:
        raise ValueError("no AWS region: set configuration aws_region or AWS_REGION")
    return str(found)


def client(
    service: str,
    configuration: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    region: str | None = None,
) -> Any:
    """A boto3 client for ``service`` with connect/read timeouts and bounded retries."""
    import boto3
    from botocore.config import Config

    creds: dict[str, Any] = {}
    for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
        if secrets and secrets.get(key):
            creds[key] = secrets[key]
    cfg = Config(
        connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S, retries={"max_attempts": 2, "mode": "standard"}
    )
    return boto3.session.Session().client(service, region_name=region_of(configuration, region), config=cfg, **creds)


def tag_dict(tags: list[Mapping[str, str]] | None) -> dict[str, str]:
    """AWS ``[{"Key": k, "Value": v}]`` → ``{k: v}``."""
    return {str(t["Key"]): str(t.get("Value", "")) for t in (tags or [])}
