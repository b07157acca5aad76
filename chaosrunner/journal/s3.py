"""Journals for a fleet: one S3-compatible bucket that every host's finished runs are copied to, and that
``journal list|show|report|trend --journal-dir s3://bucket/prefix`` reads from any host.

* **Up**: with ``journals_s3: s3://bucket/prefix`` in the config file (or ``$CHAOSRUNNER_JOURNALS_S3``), a run
  that ends queues a copy of its journal to ``<prefix>/YYYY/MM/DD/<run id>.json`` (the store's own layout)
  through the outbox: the run never waits for S3, the local store keeps the record, and a failed copy is
  logged. ``chaosrunner journal push`` copies whatever the bucket lacks (idempotent: compared by key and size).
* **Down**: reading ``s3://…`` lists the bucket (paginated) and downloads the objects a local mirror under
  the state home lacks or holds at another size (``<home>/journals-s3/<bucket>/<prefix>``); the listing,
  reports and trends then run on the mirror with the store's own index and checks (size, depth, aliases).

The endpoint, region and credentials come from the standard AWS settings (``AWS_ENDPOINT_URL``,
``AWS_DEFAULT_REGION``, …); every call has a 5 s connect and 30 s read timeout and no retries beyond 2.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosrunner.core.storage import ensure_private_dir, state_dir

log = logging.getLogger("chaosrunner.journal.s3")
MAX_OBJECT_BYTES = 64 * 1024 * 1024  # larger than any journal the store accepts: not a journal


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # without a trailing slash; may be empty

    @classmethod
    def parse(cls, url: str) -> S3Location:
        if not url.startswith("s3://"):
            raise ValueError(f"{url!r}: an S3 location is s3://bucket[/prefix]")
        bucket, _, prefix = url[len("s3://"):].partition("/")
        if not bucket:
            raise ValueError(f"{url!r}: no bucket")
        return cls(bucket, prefix.strip("/"))

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


def client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}))


def relative_key(path: Path, store: Path) -> str:
    """The journal's key below the prefix: its path in the store (``YYYY/MM/DD/<run id>.json``)."""
    return path.resolve().relative_to(store.resolve()).as_posix()


def upload(path: Path, store: Path, where: S3Location) -> str:
    key = where.key(relative_key(path, store))
    client().upload_file(str(path), where.bucket, key, ExtraArgs={"ContentType": "application/json"})
    return key


def _remote(where: S3Location) -> dict[str, int]:
    """Every ``.json`` object under the prefix: key below the prefix → size."""
    out: dict[str, int] = {}
    start = where.prefix + "/" if where.prefix else ""
    for page in client().get_paginator("list_objects_v2").paginate(Bucket=where.bucket, Prefix=start):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(start):]
            if rel.endswith(".json") and not rel.startswith(".") and "/." not in rel:
                out[rel] = int(obj["Size"])
    return out


def push(store: Path, where: S3Location) -> list[str]:
    """Copy every journal of the local store that the bucket lacks (or holds at another size)."""
    remote = _remote(where)
    sent = []
    for path in sorted(store.rglob("*.json")):
        rel = relative_key(path, store)
        if rel.startswith(".") or "/." in rel or remote.get(rel) == path.stat().st_size:
            continue
        sent.append(upload(path, store, where))
    return sent


def mirror(where: S3Location, home: Path | None = None) -> Path:
    """Bring the bucket's journals into the local mirror; returns the mirror (a store to read)."""
    root = (home or state_dir()) / "journals-s3" / where.bucket / (where.prefix or "_")
    ensure_private_dir(root)
    s3 = client()
    for rel, size in _remote(where).items():
        target = (root / rel).resolve()
        if root.resolve() not in target.parents:  # a key with ../ must not write outside the mirror
            log.warning("s3 journals: skipped %s: outside the store", rel)
            continue
        if size > MAX_OBJECT_BYTES:
            log.warning("s3 journals: skipped %s: %d bytes is not a journal", rel, size)
            continue
        if target.exists() and target.stat().st_size == size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name("." + target.name + ".part")
        s3.download_file(where.bucket, where.key(rel), str(partial))
        partial.replace(target)
    return root
