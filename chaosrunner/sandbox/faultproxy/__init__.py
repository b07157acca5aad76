"""A Toxiproxy-compatible fault proxy: ``model`` (pure API semantics), ``tcp`` (data plane),
``server`` (HTTP API + entry point). See docs/sandbox.md."""
