"""The journal: Chaos Toolkit-compatible JSON plus a ``chaosrunner`` section (docs/journal.md).

``schema`` is the document (typed models, listing heads, writer skeletons); ``layout`` is where a run's
journal lives; ``writer`` writes one run's journal incrementally and atomically; ``store`` finds, loads
and lists journals, ``summary`` turns one into a row and ``index`` caches the rows.
"""
