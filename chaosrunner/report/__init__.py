"""Game-day review: HTML and Markdown reports of journals, and resilience trends (docs/review.md).

``view`` computes what a report shows (pure) from ``timeline`` (key moments, activity bars) and
``charts`` (guard series as SVG coordinates); ``formatting`` writes numbers the same way everywhere;
``html`` and ``markdown`` format a view, ``trend`` groups runs by experiment and week and computes the
resilience score.
"""
