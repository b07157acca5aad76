"""The sandbox: a small but real multi-region estate on 127.0.0.1 to break (see docs/sandbox.md)."""
