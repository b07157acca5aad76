"""The journal: Chaos Toolkit-compatible JSON plus a ``chaosrunner`` section (docs/journal.md).

``writer`` writes one run's journal incrementally and atomically; ``store`` reads the store.
"""
