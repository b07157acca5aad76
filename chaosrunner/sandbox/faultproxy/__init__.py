"""A Toxiproxy-compatible fault proxy (docs/sandbox.md, "Fault proxy").

``model`` (API data and validation, pure), ``server`` (the HTTP API and entry point), ``listener`` (a proxy at run
time), ``link`` (one connection: per-direction toxic chains), ``stream`` (chunks, channels, the stub a toxic drives),
``toxics/`` (one module per toxic type), ``metrics`` (``/metrics``)."""
