"""Game-day review: HTML and Markdown reports of journals, and resilience trends (docs/review.md).

``view`` computes what a report shows (pure), ``html`` and ``markdown`` format it, ``trend`` groups runs
by experiment and week and computes the resilience score.
"""
