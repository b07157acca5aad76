"""CDN outage on AWS: the primary CloudFront distribution of a multi-CDN hostname goes dark, and Route 53
steering moves the traffic to a CDN that serves — measured from the fault to the switch (``switch_time_s``).

``images.<zone>`` is one **weighted** CNAME per CDN (``cdn-a`` weight 100, ``cdn-b`` weight 0), each naming a
CloudFront distribution's domain; a CDN *serves* when its distribution is ``Enabled`` and ``Deployed``.

* :func:`take_cdn_dark` — the fault: ``Enabled: false``, nothing else changed, ``IfMatch`` the ETag read.
  Undo data on the distribution: tag ``chaosrunner:dark-since`` = epoch seconds (the switch's start, too).
* :func:`steer_from_dark_cdn` — the steering under test, modelled (moto runs no health checks): poll until a
  CDN carrying weight is dark, move its weight to the standby once that serves (one change batch), wait for
  ``INSYNC`` and a serving answer. Undo data on the zone: tag ``chaosrunner:steered:<name>`` = old weights.
* :func:`restore_cdn`, :func:`restore_steering` — the undos (rollbacks and ledger): idempotent, acting only
  where our tag is; steering back never points at a dark CDN (our own outage of it is ended first).

Every fault is in the ledger before anything changes; every call has :mod:`chaosrunner.platforms.aws`'s
timeouts. What moto does not simulate: docs/platforms.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from chaoslib.exceptions import ActivityFailed

from chaosrunner.core.clock import Clock, SystemClock
from chaosrunner.drivers import faults
from chaosrunner.drivers.deadline import Seen, Waited, poll
from chaosrunner.platforms.aws import client, tag_dict

UNDO_FROM_ANY_HOST = True  # undos are AWS API calls: `recover --fleet` may run them from any host

FAULT_DARK = "aws-cdn-dark"
FAULT_STEERED = "aws-cdn-steered"
TAG_DARK = "chaosrunner:dark-since"
TAG_STEERED = "chaosrunner:steered:"
SET_ID = re.compile(r"^[A-Za-z0-9_.:/+@-]{1,64}$")  # representable in a Route 53 tag value
UNDO_WAIT_S = 20.0  # the ledger's undo waits this long for a CDN to serve and the change (recovery allows 30 s)


@dataclass(frozen=True)
class Answer:
    """One weighted CNAME of the steered name, as Route 53 lists it (``record`` is the whole record set)."""

    set_identifier: str
    weight: int
    cname: str
    record: dict[str, Any]


@dataclass(frozen=True)
class Cdn:
    distribution_id: str
    arn: str
    domain: str
    enabled: bool
    status: str  # InProgress | Deployed

    @property
    def serving(self) -> bool:
        return self.enabled and self.status == "Deployed"


@dataclass(frozen=True)
class SteeringView:
    """One look at the steering: every answer and the CDN behind it (by set identifier)."""

    answers: list[Answer]
    cdns: dict[str, Cdn]

    @property
    def weights(self) -> dict[str, int]:
        return {a.set_identifier: a.weight for a in self.answers}

    @property
    def dark_active(self) -> list[str]:
        """Answers carrying weight whose CDN does not serve."""
        return [a.set_identifier for a in self.answers if a.weight > 0 and not self.cdns[a.set_identifier].serving]

    @property
    def serves(self) -> bool:
        return any(a.weight > 0 for a in self.answers) and not self.dark_active

    def __str__(self) -> str:
        return " ".join(
            f"{a.set_identifier}={a.weight}({'serving' if self.cdns[a.set_identifier].serving else 'dark'})"
            for a in self.answers
        )


def steered_weights(weights: Mapping[str, int], dark: Iterable[str], to: str) -> dict[str, int]:
    """Pure: the dark answers' weight moved onto ``to`` (the total share is kept; ``to`` gets at least 1)."""
    new = dict(weights)
    moved = 0
    for sid in dark:
        moved += new[sid]
        new[sid] = 0
    new[to] = max(new[to] + moved, 1)
    return new


def format_weights(weights: Mapping[str, int]) -> str:
    """Pure: ``{"cdn-a": 100, "cdn-b": 0}`` → ``"cdn-a=100 cdn-b=0"`` (a Route 53 tag value)."""
    bad = sorted(s for s in weights if not SET_ID.match(s))
    if bad:
        raise ActivityFailed(f"set identifiers {bad} cannot be remembered in a Route 53 tag (letters, digits, _.:/+@-)")
    return " ".join(f"{sid}={w}" for sid, w in sorted(weights.items()))


def parse_weights(text: str) -> dict[str, int]:
    """Pure: the inverse of :func:`format_weights`."""
    return {sid: int(w) for sid, w in (part.rsplit("=", 1) for part in text.split())}


def _fqdn(name: str) -> str:
    return name.lower() if name.endswith(".") else name.lower() + "."


def _zone_id(r53: Any, hosted_zone: str) -> str:
    """A hosted zone id from an id (``Z…``, ``/hostedzone/Z…``) or a name (``pinboard.example.``)."""
    if "." not in hosted_zone:
        return hosted_zone.rsplit("/", 1)[-1]
    name = _fqdn(hosted_zone)
    found = r53.list_hosted_zones_by_name(DNSName=name, MaxItems="10")["HostedZones"]
    zones = [z for z in found if z["Name"].lower() == name]
    if len(zones) != 1:
        raise ValueError(f"expected one hosted zone named {name}, found {len(zones)}: give its id")
    return str(zones[0]["Id"]).rsplit("/", 1)[-1]


def answers(r53: Any, zone_id: str, record_name: str) -> list[Answer]:
    """The weighted CNAME answers of ``record_name``, by set identifier; ValueError with fewer than two."""
    name = _fqdn(record_name)
    found = r53.list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName=name, StartRecordType="CNAME", MaxItems="100"
    )["ResourceRecordSets"]
    out = [
        Answer(str(r["SetIdentifier"]), int(r["Weight"]), str(r["ResourceRecords"][0]["Value"]).rstrip(".").lower(), r)
        for r in found
        if r["Name"].lower() == name and r["Type"] == "CNAME" and "Weight" in r and r.get("ResourceRecords")
    ]
    if len(out) < 2:
        raise ValueError(f"{name} has {len(out)} weighted CNAME answer(s) in {zone_id}: multi-CDN steering needs two")
    return sorted(out, key=lambda a: a.set_identifier)


def distributions(cf: Any) -> dict[str, Cdn]:
    """Every distribution of the account, by domain name."""
    out = {}
    for page in cf.get_paginator("list_distributions").paginate():
        for d in page["DistributionList"].get("Items") or []:
            domain = str(d["DomainName"]).lower()
            out[domain] = Cdn(str(d["Id"]), str(d["ARN"]), domain, bool(d["Enabled"]), str(d["Status"]))
    return out


def look(r53: Any, cf: Any, zone_id: str, record_name: str) -> SteeringView:
    found, by_domain = answers(r53, zone_id, record_name), distributions(cf)
    unknown = sorted(a.cname for a in found if a.cname not in by_domain)
    if unknown:
        raise ValueError(f"{record_name} points at {unknown}: not CloudFront distributions of this account, whose"
                         " health this steering cannot see")  # fmt: skip
    return SteeringView(found, {a.set_identifier: by_domain[a.cname] for a in found})


def _clients(configuration: Any, secrets: Any, region: str | None = None) -> tuple[Any, Any]:
    return client("route53", configuration, secrets, region), client("cloudfront", configuration, secrets, region)


def _watch(r53: Any, cf: Any, zone_id: str, name: str, done: Callable[[SteeringView], bool], what: str,
           timeout_s: float, poll_s: float, clock: Clock | None) -> Waited[SteeringView]:  # fmt: skip
    """Look every ``poll_s`` s until ``done(view)``; ActivityFailed after ``timeout_s`` quoting the last view."""

    def check() -> Seen[SteeringView]:
        v = look(r53, cf, zone_id, name)
        return Seen(done(v), v)

    return poll(check, what=f"{name}: {what}", timeout_s=timeout_s, poll_s=poll_s, clock=clock)


def _tags(cf: Any, arn: str) -> dict[str, str]:
    return tag_dict(cf.list_tags_for_resource(Resource=arn)["Tags"].get("Items"))


def _chosen_distributions(configuration: Mapping[str, Any] | None) -> list[str]:
    return [
        str(t["attrs"]["distribution_id"])
        for t in (configuration or {}).get("chaosrunner_targets") or []
        if (t.get("attrs") or {}).get("distribution_id")
    ]


def _aimed_at(view: SteeringView, set_identifier: str, configuration: Mapping[str, Any] | None) -> list[Cdn]:
    """The runner's chosen distributions (each must be behind an answer), else the one behind ``set_identifier``."""
    by_id = {c.distribution_id: c for c in view.cdns.values()}
    chosen = _chosen_distributions(configuration)
    for did in chosen:
        if did not in by_id:
            raise ActivityFailed(f"chosen distribution {did} is behind none of the answers ({view}): nothing measured")
    if chosen:
        return [by_id[d] for d in chosen]
    if set_identifier not in view.cdns:
        raise ActivityFailed(f"no answer {set_identifier!r} (answers: {view})")
    return [view.cdns[set_identifier]]


def _set_enabled(cf: Any, distribution_id: str, enabled: bool, attempts: int = 2) -> bool:
    """Set ``Enabled``, nothing else, ``IfMatch`` the ETag just read (read again if it moved meanwhile).
    False when it already was."""
    got = cf.get_distribution_config(Id=distribution_id)
    if bool(got["DistributionConfig"].get("Enabled")) == enabled:
        return False
    config = {**got["DistributionConfig"], "Enabled": enabled}
    try:
        cf.update_distribution(Id=distribution_id, IfMatch=got["ETag"], DistributionConfig=config)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") != "PreconditionFailed" or attempts <= 1:
            raise
        return _set_enabled(cf, distribution_id, enabled, attempts - 1)
    return True


def take_cdn_dark(
    hosted_zone: str,
    record_name: str,
    set_identifier: str,
    region: str | None = None,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Disable the distribution behind ``set_identifier``'s answer (the runner's chosen one when there is one).

    ActivityFailed when it is already disabled (the fault would not land, and its undo must not enable a
    distribution someone else disabled). Returns once CloudFront reports it disabled:
    ``{"dark": [distribution ids], "dark_since": epoch seconds}``.
    """
    r53, cf = _clients(configuration, secrets, region)
    view = look(r53, cf, _zone_id(r53, hosted_zone), record_name)
    targets = _aimed_at(view, set_identifier, configuration)
    since = round((clock or SystemClock()).now().timestamp(), 3)
    for cdn in targets:
        if not cf.get_distribution_config(Id=cdn.distribution_id)["DistributionConfig"].get("Enabled"):
            raise ActivityFailed(f"distribution {cdn.distribution_id} is already disabled: the fault would not land")
        undo = {"distribution_id": cdn.distribution_id, "region": cf.meta.region_name}
        faults.record(FAULT_DARK, cdn.distribution_id, "restore_cdn", undo, module=__name__)
        cf.tag_resource(Resource=cdn.arn, Tags={"Items": [{"Key": TAG_DARK, "Value": f"{since:.3f}"}]})
        _set_enabled(cf, cdn.distribution_id, False)
    left = [c.distribution_id for c in targets if cf.get_distribution_config(Id=c.distribution_id)
            ["DistributionConfig"]["Enabled"]]  # fmt: skip
    if left:
        raise ActivityFailed(f"distributions {left} still enabled after update_distribution")
    return {"dark": [c.distribution_id for c in targets], "dark_since": since}


def restore_cdn(
    distribution_id: str | None = None,
    hosted_zone: str | None = None,
    record_name: str | None = None,
    set_identifier: str | None = None,
    region: str | None = None,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Undo :func:`take_cdn_dark`: re-enable the distribution if our tag says we disabled it, drop the tag.

    Names it by id (the ledger) or like the fault (the rollback). Idempotent; a distribution without our
    tag is never touched. Only ``Enabled`` is set back, on the config as it is now, so the result is the
    config from before the fault (and a change someone made meanwhile is kept, not reverted).
    Returns ``{"distributions": [ids], "re_enabled": [ids]}``.
    """
    cf = client("cloudfront", configuration, secrets, region)
    if distribution_id:
        targets = [distribution_id]
    elif hosted_zone and record_name and set_identifier:
        r53 = client("route53", configuration, secrets, region)
        view = look(r53, cf, _zone_id(r53, hosted_zone), record_name)
        targets = [c.distribution_id for c in _aimed_at(view, set_identifier, configuration)]
    else:
        raise ValueError("give distribution_id, or hosted_zone, record_name and set_identifier")
    return {"distributions": targets, "re_enabled": [d for d in targets if _end_outage(cf, d)]}


def _end_outage(cf: Any, distribution_id: str) -> bool:
    arn = cf.get_distribution(Id=distribution_id)["Distribution"]["ARN"]
    changed = False
    if TAG_DARK in _tags(cf, arn):
        changed = _set_enabled(cf, distribution_id, True)
        cf.untag_resource(Resource=arn, TagKeys={"Items": [TAG_DARK]})
    faults.settle(FAULT_DARK, distribution_id)
    return changed


def _wait_insync(r53: Any, change_id: str, timeout_s: float, poll_s: float, clock: Clock) -> float:
    if not change_id:
        return 0.0

    def check() -> Seen[str]:
        status = str(r53.get_change(Id=change_id)["ChangeInfo"]["Status"])
        return Seen(status == "INSYNC", status)

    return poll(check, what=f"Route 53 change {change_id} INSYNC", timeout_s=timeout_s, poll_s=poll_s,
                clock=clock).seconds  # fmt: skip


def _set_weights(r53: Any, zone_id: str, view: SteeringView, weights: Mapping[str, int], why: str) -> str:
    """UPSERT the answers whose weight changes, in one change batch (atomic); the change id ('' if none)."""
    changes = [
        {"Action": "UPSERT", "ResourceRecordSet": {**a.record, "Weight": int(weights[a.set_identifier])}}
        for a in view.answers
        if a.set_identifier in weights and int(weights[a.set_identifier]) != a.weight
    ]
    if not changes:
        return ""
    batch = {"Comment": f"chaosrunner: {why}"[:256], "Changes": changes}
    return str(r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch=batch)["ChangeInfo"]["Id"])


def steer_from_dark_cdn(
    hosted_zone: str,
    record_name: str,
    to_set_identifier: str,
    figure: str = "switch_time_s",
    timeout_s: float = 120.0,
    poll_s: float = 1.0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """The steering: wait for an answer carrying weight to go dark, move its weight to ``to_set_identifier``
    once that CDN serves, and return when the change is INSYNC and every answer with weight serves.

    ``figure`` (seconds) runs from the fault — the dark distribution's ``chaosrunner:dark-since`` tag — to
    that moment (from the look that saw it dark when there is no tag: an outage we did not cause); it
    includes this steering's detection (``poll_s``). ActivityFailed when nothing goes dark, or no CDN serves
    to take the traffic, within ``timeout_s``.
    Output: ``{"from", "to", "weights", "change_id", "ttl_s", "measured_from", "chaosrunner_figures"}``.
    """
    r53, cf = _clients(configuration, secrets)
    clk = clock or SystemClock()
    zone_id, name, to = _zone_id(r53, hosted_zone), _fqdn(record_name), to_set_identifier
    start = clk.monotonic()

    def left() -> float:
        return max(timeout_s - (clk.monotonic() - start), 0.0)

    def dark(v: SteeringView) -> bool:
        if to not in v.cdns:
            raise ValueError(f"no answer {to!r} to steer to ({v})")
        return bool(v.dark_active)

    seen = _watch(r53, cf, zone_id, name, dark, "a CDN carrying weight going dark", timeout_s, poll_s, clk).value
    detected = clk.now().timestamp()
    stamps = [_tags(cf, seen.cdns[s].arn).get(TAG_DARK) for s in seen.dark_active]
    since = min((float(t) for t in stamps if t), default=None)
    view = _watch(r53, cf, zone_id, name, lambda v: v.cdns[to].serving, f"{to} serving to take the traffic", left(),
                  poll_s, clk).value  # fmt: skip
    off = [s for s in view.dark_active if s != to]
    before = format_weights(view.weights)
    undo = {"hosted_zone": zone_id, "record_name": name, "weights": view.weights, "timeout_s": UNDO_WAIT_S,
            "region": r53.meta.region_name}  # fmt: skip
    faults.record(FAULT_STEERED, f"{zone_id}/{name}", "restore_steering", undo, module=__name__)
    tag = [{"Key": TAG_STEERED + name, "Value": before}]
    r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id, AddTags=tag)
    change = _set_weights(r53, zone_id, view, steered_weights(view.weights, off, to), f"steer {name} {off}->{to}")
    _wait_insync(r53, change, left(), poll_s, clk)
    final = _watch(r53, cf, zone_id, name, lambda v: v.serves, "steered to a serving CDN", left(), poll_s, clk).value
    took = clk.now().timestamp() - (since if since is not None else detected)
    return {
        "from": off,
        "to": to,
        "weights": final.weights,
        "change_id": change,
        "ttl_s": int(final.answers[[a.set_identifier for a in final.answers].index(to)].record.get("TTL", 0)),
        "measured_from": "fault" if since is not None else "detection",
        "chaosrunner_figures": {figure: round(max(took, 0.0), 3)},
    }


def restore_steering(
    hosted_zone: str,
    record_name: str,
    weights: dict[str, int] | None = None,
    timeout_s: float = 0.0,
    poll_s: float = 1.0,
    region: str | None = None,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Undo :func:`steer_from_dark_cdn`: the weights from before (``weights``, else the zone's tag), exactly.

    Idempotent: with neither, the steering was never moved and nothing changes. The answers that get their
    weight back must serve first: a distribution our fault disabled is re-enabled (:func:`restore_cdn`),
    then this waits for them, and for the change to be INSYNC, up to ``timeout_s`` in all; ActivityFailed
    if they still do not serve — the traffic is then left on the CDN that serves, the safe side.
    Output: ``{"restored": bool, "weights": {...}}``.
    """
    r53, cf = _clients(configuration, secrets, region)
    clk = clock or SystemClock()
    start = clk.monotonic()
    zone_id, name = _zone_id(r53, hosted_zone), _fqdn(record_name)
    zone_tags = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)["ResourceTagSet"]
    tagged = tag_dict(zone_tags.get("Tags")).get(TAG_STEERED + name)
    original = {str(k): int(v) for k, v in (weights or {}).items()} or (parse_weights(tagged) if tagged else {})
    changed = False
    if original:
        view = look(r53, cf, zone_id, name)
        back = [s for s, w in original.items() if w > 0 and s in view.cdns]
        for sid in back:
            if not view.cdns[sid].serving:
                _end_outage(cf, view.cdns[sid].distribution_id)
        view = _watch(r53, cf, zone_id, name, lambda v: all(v.cdns[s].serving for s in back),
                      f"{back} serving again before the steering goes back (traffic left where it is)", timeout_s,
                      poll_s, clk).value  # fmt: skip
        change = _set_weights(r53, zone_id, view, original, f"restore {name} to {format_weights(original)}")
        _wait_insync(r53, change, max(timeout_s - (clk.monotonic() - start), 0.0), poll_s, clk)
        changed = bool(change)
    if tagged:
        r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id, RemoveTagKeys=[TAG_STEERED + name])
    faults.settle(FAULT_STEERED, f"{zone_id}/{name}")
    return {"restored": changed, "weights": original}


def steering_serves(
    hosted_zone: str,
    record_name: str,
    timeout_s: float | None = None,
    poll_s: float = 1.0,
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> bool:
    """True when every answer carrying weight points at a CDN that serves (the steady state).

    With ``timeout_s`` (a method probe, whose tolerance Chaos Toolkit never checks) it waits that long for
    it instead, and fails the activity (ActivityFailed) when it does not."""
    r53, cf = _clients(configuration, secrets)
    zone_id, name = _zone_id(r53, hosted_zone), _fqdn(record_name)
    if timeout_s is None:
        return look(r53, cf, zone_id, name).serves
    return _watch(r53, cf, zone_id, name, lambda v: v.serves, "steered to serving CDNs", timeout_s, poll_s,
                  None).value.serves  # fmt: skip
