"""The statistical steady-state verdict on synthetic SLI series with known shifts."""

from __future__ import annotations

import random

from chaosrunner.guard.statistics import MIN_SAMPLES, compare, describe


def series(rng: random.Random, n: int, mean: float, sd: float) -> list[float]:
    return [max(0.0, rng.gauss(mean, sd)) for _ in range(n)]


def test_no_shift_is_no_significant_difference_in_at_least_95_percent_of_trials() -> None:
    rng = random.Random(16)
    trials = 400
    false_alarms = sum(
        compare(series(rng, 30, 0.002, 0.0005), series(rng, 20, 0.002, 0.0005)).significant for _ in range(trials)
    )
    assert false_alarms / trials <= 0.05 + 0.02  # α = 0.05, with sampling slack for 400 trials


def test_a_doubling_is_detected_with_its_effect_size() -> None:
    rng = random.Random(7)
    detected = 0
    for _ in range(200):
        c = compare(series(rng, 30, 0.002, 0.0005), series(rng, 20, 0.004, 0.0005))
        detected += c.significant
        assert c.ratio is not None and 1.6 < c.ratio < 2.5
    assert detected / 200 >= 0.95


def test_underpowered_windows_say_so() -> None:
    c = compare([0.001] * 30, [0.01] * (MIN_SAMPLES - 1))
    assert c.underpowered and not c.significant
    text = describe("pinboard-availability", c, None, None)
    assert "too few samples to tell" in text and "p <" not in text


def test_the_sentence_reads_like_the_issue() -> None:
    rng = random.Random(3)
    base = series(rng, 30, 0.01, 0.001)
    during = compare(base, series(rng, 15, 0.042, 0.004))
    after = compare(base, series(rng, 12, 0.01, 0.001))
    text = describe("pinboard-latency", during, after, 2.1)
    assert text.startswith("pinboard-latency: ×4.")
    assert "during the fault (p < 0.001" in text
    assert "back to baseline 2.1 s after rollback (no significant difference" in text
