"""The bench's verdicts from interleaved rounds: the median's bootstrap interval, and the challenger
check calling a verdict the rounds' noise would decide "undecided"."""

from __future__ import annotations

from typing import Any

from bench.report import render
from bench.stats import median_interval, round_ratios, target_checks, verdict


def _stage(shadow_p99_by_round: list[float]) -> dict[str, Any]:
    runs = []
    for rnd, shadow in enumerate(shadow_p99_by_round):
        for target, p99 in (
            ("ours-e2e-none", 10.0),
            ("ours-e2e-shadow", shadow),
            ("ours-e2e-split50", 10.0),
        ):
            runs.append(
                {
                    "round": rnd,
                    "target": target,
                    "concurrency": 32,
                    "p99_ms": p99,
                    "errors": 0,
                    "server_cpu_us": 2000,
                }
            )
    return {
        "challenger": {
            "runs": runs,
            "concurrency": 32,
            "rate": 450.0,
            "answers": {"applications": 200, "shadow_changed_answers": 0},
        }
    }


def _p99_check(results: dict[str, Any]) -> dict[str, Any]:
    (check,) = [c for c in target_checks(results) if c["name"].startswith("shadow p99")]
    return check


def test_the_interval_holds_the_median_and_is_a_point_without_spread():
    assert median_interval([1.2] * 11) == (1.2, 1.2)
    spread = [0.3, 0.5, 0.7, 0.9, 1.0, 1.1, 1.3, 1.6, 2.0, 2.5, 3.9]
    low, high = median_interval(spread)
    assert low < 1.1 < high
    assert low >= 0.5
    assert high <= 2.0
    assert median_interval(spread) == (low, high)  # seeded: every report gives the same


def test_the_check_reports_the_interval_of_the_rounds_ratios():
    results = _stage([11.0, 12.0, 10.5, 11.5, 12.5])
    ratios = round_ratios(results["challenger"]["runs"], "ours-e2e-shadow", "ours-e2e-none", 32, "p99_ms")
    assert ratios is not None
    assert ratios["median"] == 1.15
    low, high = median_interval(ratios["by_round"])
    assert low <= 1.15 <= high
    check = _p99_check(results)
    assert f"shadow/none p99 1.15 (90% interval of the median {low:.2f}-{high:.2f}" in check["measured"]


def test_a_verdict_inside_the_noise_is_undecided():
    # The same median (1.0, under the 1.10 goal) once from steady rounds and once from rounds
    # spread 0.3-3.9x: only the steady one is met; the noisy one is neither met nor missed.
    steady = _p99_check(_stage([10.0] * 11))
    noisy = _p99_check(_stage([x * 10.0 for x in [0.3, 0.5, 0.7, 0.9, 1.0, 1.0, 1.3, 1.6, 2.0, 2.5, 3.9]]))
    assert verdict(steady) == "met"
    assert "straddles" not in steady["measured"]
    assert "90% interval of the median 1.00-1.00" in steady["measured"]
    assert noisy["passed"] is True  # what the median alone says
    assert verdict(noisy) == "undecided (within the noise)"
    assert "which straddles 1.10;" in noisy["measured"]
    # A median over the goal from noisy rounds is undecided too, not a miss.
    spread_high = [0.6, 0.8, 1.0, 1.1, 1.2, 1.3, 1.3, 1.6, 2.0, 2.5, 3.9]
    noisy_high = _p99_check(_stage([x * 10.0 for x in spread_high]))
    assert noisy_high["passed"] is False
    assert verdict(noisy_high) == "undecided (within the noise)"
    missed = _p99_check(_stage([20.0] * 11))
    assert verdict(missed) == "NOT met"
    assert "straddles" not in missed["measured"]


def test_the_report_row_says_undecided():
    noisy = _stage([x * 10.0 for x in [0.3, 0.5, 0.7, 0.9, 1.0, 1.0, 1.3, 1.6, 2.0, 2.5, 3.9]])
    noisy["targets"] = target_checks(noisy)
    report = render(noisy)
    (row,) = [line for line in report.splitlines() if line.startswith("| shadow p99 at half")]
    assert row.rstrip().endswith("| undecided (within the noise) |")
    steady = _stage([10.0] * 11)
    steady["targets"] = target_checks(steady)
    (row,) = [line for line in render(steady).splitlines() if line.startswith("| shadow p99 at half")]
    assert row.rstrip().endswith("| yes |")
