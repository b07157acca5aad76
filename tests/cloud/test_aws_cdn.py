"""The CDN outage on AWS, against the moto server: the primary CloudFront distribution goes dark, the Route 53
weighted steering switches images to the secondary (measured), and every way out — rollbacks, a failed run,
the ledger after ``kill -9`` — leaves the distributions and the records exactly as they were."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosrunner.core import storage
from chaosrunner.core.clock import FakeClock
from chaosrunner.faults.ledger import Ledger
from chaosrunner.faults.undo import revert_open
from tests.cloud import aws_estate
from tests.cloud.aws_estate import IMAGES, ZONE, CdnEstate
from tests.cloud.conftest import (
    REPO,
    VENV_BIN,
    activity_ended,
    activity_named,
    chaosrunner_run,
    edited_copy,
    quick_copy,
    wait_until,
)

pytestmark = pytest.mark.slow
EXP = REPO / "experiments" / "aws" / "cdn-outage.yaml"


@pytest.fixture
def cdn(aws: aws_estate.Estate) -> CdnEstate:
    return aws_estate.build_cdn()


def _weights(cdn: CdnEstate) -> dict[str, int]:
    return {r["SetIdentifier"]: r["Weight"] for r in aws_estate.images_records(cdn.zone_id)}


def _enabled(cdn: CdnEstate, sid: str) -> bool:
    return bool(aws_estate.distribution_state(cdn.distributions[sid])[0]["Enabled"])


def _zone_tags(cdn: CdnEstate) -> dict[str, str]:
    import boto3

    r53 = boto3.client("route53", region_name=aws_estate.REGION)
    found = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=cdn.zone_id)["ResourceTagSet"]
    return {t["Key"]: t["Value"] for t in found.get("Tags", [])}


def _snapshot(cdn: CdnEstate) -> tuple:
    """Everything the experiment may touch, whole: both distributions' configs and tags, the records, the
    zone's tags."""
    dists = {sid: aws_estate.distribution_state(did) for sid, did in cdn.distributions.items()}
    return dists, aws_estate.images_records(cdn.zone_id), _zone_tags(cdn)




def test_cdn_outage_switches_to_the_secondary_within_30_s_and_leaves_the_estate_whole(
    cdn: CdnEstate, state_dirs, tmp_path: Path
) -> None:
    before = _snapshot(cdn)
    code, journal, err = chaosrunner_run(quick_copy(EXP, tmp_path), state_dirs["journals"])
    assert code == 0, err[-3000:]
    cr = journal["chaosrunner"]
    assert cr["verdict"] == "passed"
    assert [t["id"] for t in cr["targets"]] == [cdn.distributions["cdn-a"]]
    out = {r["activity"]["name"]: r.get("output") for r in journal["run"]}
    assert out["primary-cdn-goes-dark"]["dark"] == [cdn.distributions["cdn-a"]]
    switch = out["steering-switches-to-the-secondary"]
    assert (switch["from"], switch["to"], switch["weights"]) == (["cdn-a"], "cdn-b", {"cdn-a": 0, "cdn-b": 100})
    assert switch["measured_from"] == "fault" and switch["ttl_s"] == 60
    assert 0 < cr["figures"]["switch_time_s"] < 30
    print(f"switch_time_s (moto) = {cr['figures']['switch_time_s']}")
    assert out["secondary-still-serving-after-the-hold"] is True
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded", "succeeded"]
    assert journal["rollbacks"][0]["output"]["re_enabled"] == [cdn.distributions["cdn-a"]]
    assert journal["rollbacks"][1]["output"] == {"restored": True, "weights": aws_estate.CDNS}
    ledger = {e["fault"]: e["outcome"] for e in cr["ledger"]}
    assert ledger["aws-cdn-dark"] == "undone" and ledger["aws-cdn-steered"] == "undone"
    assert _snapshot(cdn) == before  # configs, tags, records (weights, health checks, TTL) and zone tags


def test_the_rollbacks_restore_nothing_that_was_not_changed(cdn: CdnEstate, state_dirs) -> None:
    """The undos are idempotent and act only where our tags are: run before any fault, twice, and on a
    distribution someone else disabled, they change nothing."""
    import boto3

    from chaosrunner.drivers.aws.cdn import restore_cdn, restore_steering

    cf = boto3.client("cloudfront", region_name=aws_estate.REGION)
    did = cdn.distributions["cdn-b"]
    got = cf.get_distribution_config(Id=did)
    cf.update_distribution(Id=did, IfMatch=got["ETag"], DistributionConfig={**got["DistributionConfig"],
                                                                             "Enabled": False})  # fmt: skip
    before = _snapshot(cdn)
    for _ in range(2):
        assert restore_cdn(hosted_zone=ZONE, record_name=IMAGES, set_identifier="cdn-a")["re_enabled"] == []
        assert restore_cdn(distribution_id=did)["re_enabled"] == []
        assert restore_steering(ZONE, IMAGES) == {"restored": False, "weights": {}}
    assert _snapshot(cdn) == before
    assert not _enabled(cdn, "cdn-b")


def test_the_fault_refuses_a_distribution_already_dark_and_records_nothing(cdn: CdnEstate, state_dirs) -> None:
    from chaosrunner.drivers.aws.cdn import take_cdn_dark

    take_cdn_dark(ZONE, IMAGES, "cdn-a")
    with pytest.raises(ActivityFailed, match="already disabled"):
        take_cdn_dark(ZONE, IMAGES, "cdn-a")
    (entry,) = Ledger(storage.state_dir()).open_entries("adhoc")
    assert (entry.fault, entry.target) == ("aws-cdn-dark", cdn.distributions["cdn-a"])
    assert entry.undo["func"] == "restore_cdn" and entry.undo["arguments"]["region"] == aws_estate.REGION
    outcomes = revert_open(Ledger(storage.state_dir()))  # the ledger's undo alone puts it back
    assert [o.outcome for o in outcomes] == ["undone"]
    assert _enabled(cdn, "cdn-a") and "chaosrunner:dark-since" not in aws_estate.distribution_state(
        cdn.distributions["cdn-a"])[1]  # fmt: skip


def test_switch_time_runs_from_the_fault_not_from_the_steering_start(cdn: CdnEstate, state_dirs) -> None:
    """The steering noticed the outage 25 s late (it polls every 5 s): the figure says 30 s, over target."""
    from chaosrunner.drivers.aws.cdn import steer_from_dark_cdn, take_cdn_dark

    clock = FakeClock(datetime(2026, 5, 4, 12, 0, tzinfo=UTC))
    take_cdn_dark(ZONE, IMAGES, "cdn-a", clock=clock)
    clock.advance(25)
    out = steer_from_dark_cdn(ZONE, IMAGES, "cdn-b", poll_s=5, clock=clock)
    assert out["chaosrunner_figures"]["switch_time_s"] == 25.0  # moto answers in the same fake instant
    assert _weights(cdn) == {"cdn-a": 0, "cdn-b": 100}
    assert _zone_tags(cdn) == {f"chaosrunner:steered:{IMAGES}": "cdn-a=100 cdn-b=0"}


def test_a_secondary_that_does_not_serve_fails_the_switch_and_nothing_is_steered(cdn: CdnEstate, state_dirs) -> None:
    from chaosrunner.drivers.aws.cdn import steer_from_dark_cdn, take_cdn_dark

    take_cdn_dark(ZONE, IMAGES, "cdn-a")
    take_cdn_dark(ZONE, IMAGES, "cdn-b")
    with pytest.raises(ActivityFailed, match="cdn-b serving to take the traffic"):
        steer_from_dark_cdn(ZONE, IMAGES, "cdn-b", timeout_s=0.3, poll_s=0.1)
    assert _weights(cdn) == aws_estate.CDNS and _zone_tags(cdn) == {}


def test_refused_when_the_secondary_is_already_dark_and_nothing_is_touched(
    cdn: CdnEstate, state_dirs, tmp_path: Path
) -> None:
    """With cdn-b disabled, cdn-a is the only CDN that serves: taking it dark is 100 % of the service."""
    import boto3

    cf = boto3.client("cloudfront", region_name=aws_estate.REGION)
    got = cf.get_distribution_config(Id=cdn.distributions["cdn-b"])
    cf.update_distribution(Id=cdn.distributions["cdn-b"], IfMatch=got["ETag"],
                           DistributionConfig={**got["DistributionConfig"], "Enabled": False})  # fmt: skip
    before = _snapshot(cdn)
    code, journal, _ = chaosrunner_run(quick_copy(EXP, tmp_path), state_dirs["journals"])
    assert code == 4
    cr = journal["chaosrunner"]
    assert cr["verdict"] == "refused"
    failed = {c["name"] for c in cr["preflight"]["checks"] if not c["ok"]}
    assert "blast_radius.max_percent" in failed
    assert _snapshot(cdn) == before


def test_the_secondary_going_dark_during_the_hold_fails_the_run_and_the_rollbacks_restore_the_primary(
    cdn: CdnEstate, state_dirs, tmp_path: Path
) -> None:
    """cdn-b fails too while it carries the images: the probe after the hold fails the run; the rollbacks
    re-enable cdn-a and steer back to it; cdn-b, disabled by someone else, is left alone."""
    import boto3

    def edit(doc: dict) -> None:
        activity_named(doc, "steering-switches-to-the-secondary")["pauses"] = {"after": 4}
        activity_named(doc, "secondary-still-serving-after-the-hold")["provider"]["arguments"]["timeout_s"] = 0.5

    exp = edited_copy(quick_copy(EXP, tmp_path), tmp_path, "cdn-secondary-fails.yaml", edit)
    before = _snapshot(cdn)
    cf = boto3.client("cloudfront", region_name=aws_estate.REGION)
    switched = threading.Event()

    def secondary_fails() -> None:  # during the hold: once the steering has seen cdn-b serve
        wait_until(lambda: activity_ended(state_dirs["journals"], "steering-switches-to-the-secondary"), 60,
                   "the switch to cdn-b", poll_s=0.05)
        assert _weights(cdn) == {"cdn-a": 0, "cdn-b": 100}
        got = cf.get_distribution_config(Id=cdn.distributions["cdn-b"])
        cf.update_distribution(Id=cdn.distributions["cdn-b"], IfMatch=got["ETag"],
                               DistributionConfig={**got["DistributionConfig"], "Enabled": False})  # fmt: skip
        switched.set()

    outsider = threading.Thread(target=secondary_fails, daemon=True)
    outsider.start()
    code, journal, err = chaosrunner_run(exp, state_dirs["journals"])
    outsider.join(5)
    assert switched.is_set()
    assert code == 1, err[-3000:]
    cr = journal["chaosrunner"]
    assert cr["verdict"] == "failed"
    last = journal["run"][-1]
    assert last["activity"]["name"] == "secondary-still-serving-after-the-hold" and last["status"] == "failed"
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded", "succeeded"]
    ledger = {e["fault"]: e["outcome"] for e in cr["ledger"]}
    assert ledger["aws-cdn-dark"] == ledger["aws-cdn-steered"] == "undone" and set(ledger.values()) == {"undone"}
    dists, records, zone_tags = _snapshot(cdn)
    assert dists["cdn-a"] == before[0]["cdn-a"] and records == before[1] and zone_tags == before[2]
    b_config, b_tags = dists["cdn-b"]
    assert b_config == {**before[0]["cdn-b"][0], "Enabled": False} and b_tags == before[0]["cdn-b"][1]


def test_kill_9_after_the_switch_is_reverted_by_the_watchdog(cdn: CdnEstate, state_dirs, tmp_path: Path) -> None:
    """The runner dies while cdn-b carries the images: the ledger's undos, newest first, end our outage of
    cdn-a before they steer back to it; afterwards no fault is left and the estate is as before."""
    exp = edited_copy(EXP, tmp_path, "cdn-hold.yaml", lambda d: activity_named(d, "steering-switches-to-the-secondary")
                .__setitem__("pauses", {"after": 120}))  # fmt: skip
    before = _snapshot(cdn)
    proc = subprocess.Popen(
        [str(VENV_BIN / "chaosrunner"), "run", str(exp), "--journal-dir", str(state_dirs["journals"])],
        cwd=REPO, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: _weights(cdn) == {"cdn-a": 0, "cdn-b": 100}, 60, "the switch to cdn-b", poll_s=0.2)
        assert not _enabled(cdn, "cdn-a")
        t_kill = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        wait_until(lambda: _snapshot(cdn) == before, 60, "the watchdog to restore cdn-a and the steering", 0.2)
        print(f"restored {time.monotonic() - t_kill:.1f} s after kill -9")
        wait_until(lambda: Ledger(storage.state_dir()).open_entries() == [], 30, "the ledger to be closed", 0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    ledger = Ledger(storage.state_dir())
    runs = [p.name for p in ledger.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))]
    outcomes = {e.fault: e.outcome for rid in runs for e in ledger.entries(rid)}
    assert outcomes.get("aws-cdn-dark") == "undone" and outcomes.get("aws-cdn-steered") == "undone"


def test_weights_move_from_the_dark_answers_and_round_trip_through_a_tag() -> None:
    from chaosrunner.drivers.aws.cdn import format_weights, parse_weights, steered_weights

    assert steered_weights({"cdn-a": 100, "cdn-b": 0}, ["cdn-a"], "cdn-b") == {"cdn-a": 0, "cdn-b": 100}
    assert steered_weights({"a": 70, "b": 20, "c": 10}, ["a"], "c") == {"a": 0, "b": 20, "c": 80}
    assert steered_weights({"a": 0, "b": 0}, [], "b") == {"a": 0, "b": 1}  # never all zero on the target
    assert parse_weights(format_weights({"cdn-b": 0, "cdn-a": 100})) == {"cdn-a": 100, "cdn-b": 0}
    with pytest.raises(ActivityFailed, match="cannot be remembered"):
        format_weights({"cdn a": 1})


def test_cloudfront_targets_are_the_enabled_distributions() -> None:
    from chaosrunner.inventory.aws import cloudfront_targets

    items = [
        {"Id": "E2", "ARN": "arn:2", "DomainName": "d2.cloudfront.net", "Enabled": True, "Status": "Deployed"},
        {"Id": "E1", "ARN": "arn:1", "DomainName": "d1.cloudfront.net", "Enabled": False, "Status": "Deployed"},
    ]
    tags = {"arn:2": {"service": "pinboard-images", "tier": "non-critical", "cdn": "cdn-b"}}
    (t,) = cloudfront_targets(items, tags)
    assert (t.id, t.service, t.tier, t.region, t.zone, t.labels["cdn"]) == (
        "E2", "pinboard-images", "non-critical", "global", "", "cdn-b")  # fmt: skip
    assert t.attrs == {"distribution_id": "E2", "domain_name": "d2.cloudfront.net", "status": "Deployed",
                       "aliases": []}  # fmt: skip


def test_plain_chaos_run_takes_the_named_cdn_dark_and_rolls_back(cdn: CdnEstate, state_dirs, tmp_path: Path) -> None:
    """Without chaosrunner (no chosen target) the fault falls back to the primary's answer."""
    from tests.cloud.test_plain_chaos_run import _chaos_run

    before = _snapshot(cdn)
    doc = _chaos_run(quick_copy(EXP, tmp_path), tmp_path)
    out = {r["activity"]["name"]: r.get("output") for r in doc["run"]}
    assert out["primary-cdn-goes-dark"]["dark"] == [cdn.distributions["cdn-a"]]
    assert out["steering-switches-to-the-secondary"]["weights"] == {"cdn-a": 0, "cdn-b": 100}
    assert _snapshot(cdn) == before and Ledger(storage.state_dir()).open_entries() == []
