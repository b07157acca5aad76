"""The toxic family: one small module per Toxiproxy toxic type, each meeting the contract in ``base``."""

from __future__ import annotations

from chaosrunner.sandbox.faultproxy.toxics.bandwidth import Bandwidth
from chaosrunner.sandbox.faultproxy.toxics.base import Toxic, pass_through
from chaosrunner.sandbox.faultproxy.toxics.latency import Latency
from chaosrunner.sandbox.faultproxy.toxics.limit_data import LimitData
from chaosrunner.sandbox.faultproxy.toxics.noop import Noop
from chaosrunner.sandbox.faultproxy.toxics.reset_peer import ResetPeer
from chaosrunner.sandbox.faultproxy.toxics.slicer import Slicer
from chaosrunner.sandbox.faultproxy.toxics.slow_close import SlowClose
from chaosrunner.sandbox.faultproxy.toxics.timeout import Timeout

TOXICS: dict[str, type[Toxic]] = {
    cls.type_name: cls for cls in (Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData, Noop)
}

__all__ = ["TOXICS", "Toxic", "pass_through"]
