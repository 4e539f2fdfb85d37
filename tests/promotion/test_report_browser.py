"""The comparison report as a person sees it: headless Chromium (Debian's package) loads the
HTML offline, every chart draws marks, and the page logs no console error or exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from monitoring.comparison import compare
from monitoring.window import Window
from promotion.compare import ComparisonReport
from promotion.evidence import Governance, VersionEvidence
from promotion.report import CHART_IDS, render_html
from tests.browser import open_page

# Per chart: the SVG marks Plotly draws for its trace type.
MARKS = {
    "scores": "g.trace.bars path",
    "pairs": "g.trace.scatter path.point",
    "decisions": "g.hm image",
    "reasons": "g.trace.bars path",
    "latency": "g.trace.bars path",
}


def _frames(n: int = 800, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    score = rng.normal(600, 40, n)
    challenger_score = score + rng.normal(0, 15, n)

    def side(scores: np.ndarray, latency: float) -> pd.DataFrame:
        decision = np.where(scores >= 610, "approve", np.where(scores < 560, "decline", "refer"))
        codes = [
            [] if d == "approve" else (["R07", "R16"] if s < 580 else ["R02"])
            for d, s in zip(decision, scores, strict=True)
        ]
        return pd.DataFrame(
            {
                "request_id": [f"r{i // 10}" for i in range(n)],
                "row_index": [i % 10 for i in range(n)],
                "decision": decision,
                "score": scores,
                "reason_codes": codes,
                "latency_ms": rng.gamma(2.0, latency, n),
                "thin_file": rng.random(n) < 0.05,
            }
        )

    return side(score, 4.0), side(challenger_score, 6.0)


def _report() -> ComparisonReport:
    champion, challenger = _frames()
    end = datetime.now(UTC)
    fairness = {
        "age_band": [{"group": "25-34", "count": 120, "approval_rate": 0.61, "air": 1.0, "flagged": False}]
    }
    evidence = {
        v: VersionEvidence(
            "credit-risk",
            v,
            f"run{v}",
            (alias,),
            {"auc": 0.85 - 0.01 * int(v), "brier": 0.15},
            fairness,
            Governance("passed", {}, "# card"),
        )
        for v, alias in (("3", "champion"), ("4", "challenger"))
    }
    return ComparisonReport(
        "credit-risk",
        end - timedelta(days=7),
        end,
        evidence["3"],
        evidence["4"],
        compare(champion, challenger, champion_version="3", challenger_version="4"),
        {"status": "no_outcomes", "reason": "no outcomes table beside the inference log"},
        Window(end - timedelta(days=7), end, champion, challenger),
    )


def test_report_loads_draws_every_chart_and_logs_no_error(tmp_path: Path):
    page_file = tmp_path / "comparison.html"
    page_file.write_text(render_html(_report()), encoding="utf-8")
    with open_page(tmp_path / "chromium") as page:
        page.navigate(page_file.as_uri())
        page.wait_events(2.0)  # Plotly draws right after load; let late errors arrive too
        charts = page.evaluate(
            "JSON.stringify(Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => "
            "({id: d.id, width: d.getBoundingClientRect().width, height: d.getBoundingClientRect().height})))"
        )
        import json

        drawn = {c["id"]: c for c in json.loads(charts)}
        assert set(drawn) == {f"chart-{c}" for c in CHART_IDS}
        for chart_id, selector in MARKS.items():
            marks = page.evaluate(f"document.querySelectorAll('#chart-{chart_id} {selector}').length")
            assert marks > 0, f"{chart_id} drew no {selector}"
            assert drawn[f"chart-{chart_id}"]["width"] > 300
            assert drawn[f"chart-{chart_id}"]["height"] > 200
        assert page.evaluate("document.title").startswith("credit-risk: v3 (champion) vs v4 (challenger)")
        assert "swap-out" in page.evaluate("document.body.innerText")
        page.screenshot(tmp_path / "comparison.png")
        assert page.errors == [], page.errors


def test_a_window_without_pairs_says_so_instead_of_an_empty_chart(tmp_path: Path):
    report = _report()
    champion, challenger = report.window.champion, report.window.challenger.assign(request_id="split")
    report.window = Window(report.start, report.end, champion, challenger)
    report.comparison = compare(champion, challenger, champion_version="3", challenger_version="4")
    text = render_html(report)
    assert 'id="chart-pairs-empty"' in text
    assert 'id="chart-decisions-empty"' in text
    assert 'id="chart-scores"' in text
