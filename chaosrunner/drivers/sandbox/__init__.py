"""Chaos Toolkit activities for the local sandbox estate (``chaosrunner sandbox up``): faults and probes.

One module per fault family, each a small file:

* :mod:`.state` — where the estate is (its ``state.json``), the runner's chosen targets, the estate's
  steady state (no toxics, proxies enabled, no stress-ng, instances up, a writable primary + standby).
* :mod:`.instances` — Monday: ``kill -9`` one instance, wait for supervisor to replace it.
* :mod:`.latency` — Tuesday: a latency toxic on an instance's (or the database's) fault-proxy path.
* :mod:`.starvation` — Wednesday: stress-ng pinned to the target instance's CPU (taskset), with ``--timeout``.
* :mod:`.database` — Thursday: crash the primary, promote the standby, measure RTO/RPO, rebuild a standby.
* :mod:`.region` — Friday: take the Full region out (reset every connection to its instances), measure
  read RTO and the share of requests served, bring it back.
* :mod:`.cdn` — CDN outage: an edge goes dark, measure the steering layer's switch and the hit ratio.
* :mod:`.partition` — network partition between two sides (regions, the app tier, the database), with
  a split-brain check and the time to full restoration after the heal.
* :mod:`.cut` — what those three share: cutting fault-proxy paths under a restore deadline.

Every fault records its undo in the ledger before it is injected (:mod:`chaosrunner.drivers.faults`,
the same ledger glue for every driver family); every fault that can carry an expiry does. Every network
call has a timeout (``TIMEOUT_S`` in :mod:`.state`).
"""
