"""The comparison as a self-contained HTML page: tables and Plotly charts, no network needed.

Plotly's JavaScript is inlined once (the page opens offline, in an MLflow artifact view too);
every chart is SVG (no WebGL), so headless browsers draw it as a person's would.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from credit_scoring.policy import Decision
from promotion.compare import ComparisonReport

__all__ = ["CHART_IDS", "render_html"]

CHART_IDS = ("scores", "pairs", "decisions", "reasons", "latency")
_COLOURS = {"champion": "#1f77b4", "challenger": "#ff7f0e"}
_MAX_POINTS = 3000
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.missing { color: #b00020; font-weight: bold; } .chart { min-height: 360px; }
pre { background: #f7f7f7; padding: 0.75rem; }
"""


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4f}"
    return str(value)


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure_html(fig: Any, chart_id: str) -> str:
    import plotly.io as pio

    return pio.to_html(
        fig, include_plotlyjs=False, full_html=False, div_id=f"chart-{chart_id}", config={"responsive": True}
    )


def _scores(champion: pd.DataFrame, challenger: pd.DataFrame) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for role, frame in (("champion", champion), ("challenger", challenger)):
        fig.add_trace(
            go.Histogram(
                x=frame["score"].to_numpy(np.float64),
                name=role,
                opacity=0.6,
                histnorm="probability",
                marker_color=_COLOURS[role],
            )
        )
    fig.update_layout(
        barmode="overlay", title="Score distributions", xaxis_title="score", yaxis_title="share"
    )
    return fig


def _pairs(champion: pd.DataFrame, challenger: pd.DataFrame) -> Any | None:
    import plotly.graph_objects as go

    pairs = champion.merge(challenger, on=["request_id", "row_index"], suffixes=("", "_challenger"))
    if pairs.empty:
        return None
    if len(pairs) > _MAX_POINTS:  # a sample keeps the page light; the figures use every pair
        pairs = pairs.sample(_MAX_POINTS, random_state=0)
    agree = pairs["decision"].astype(str) == pairs["decision_challenger"].astype(str)
    fig = go.Figure()
    for label, mask in (("same decision", agree), ("decision flips", ~agree)):
        fig.add_trace(
            go.Scatter(
                x=pairs.loc[mask, "score"],
                y=pairs.loc[mask, "score_challenger"],
                mode="markers",
                name=label,
                marker={"size": 4, "opacity": 0.6},
            )
        )
    low = float(min(pairs["score"].min(), pairs["score_challenger"].min()))
    high = float(max(pairs["score"].max(), pairs["score_challenger"].max()))
    fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="equal", line={"dash": "dot"}))
    fig.update_layout(
        title="Same applicants (shadow pairs)", xaxis_title="champion score", yaxis_title="challenger score"
    )
    return fig


def _decisions(matrix: dict[str, dict[str, int]]) -> Any | None:
    import plotly.graph_objects as go

    if not matrix or not any(v for row in matrix.values() for v in row.values()):
        return None
    order = [d.value for d in Decision]
    z = [[matrix.get(a, {}).get(b, 0) for b in order] for a in order]
    fig = go.Figure(go.Heatmap(z=z, x=order, y=order, text=z, texttemplate="%{text}", colorscale="Blues"))
    fig.update_layout(
        title="Decisions on shadow pairs", xaxis_title="challenger decides", yaxis_title="champion decided"
    )
    return fig


def _reasons(differences: list[dict[str, Any]]) -> Any | None:
    import plotly.graph_objects as go

    if not differences:
        return None
    codes = [d["code"] for d in differences]
    fig = go.Figure()
    for role in ("champion", "challenger"):
        fig.add_trace(
            go.Bar(
                x=codes, y=[d[f"{role}_share"] for d in differences], name=role, marker_color=_COLOURS[role]
            )
        )
    fig.update_layout(
        barmode="group",
        title="Reason codes (share of non-approved answers citing each)",
        yaxis_tickformat=".0%",
    )
    return fig


def _latency(report: ComparisonReport) -> Any | None:
    import plotly.graph_objects as go

    sides = {
        "champion": report.comparison.champion.latency_ms,
        "challenger": report.comparison.challenger.latency_ms,
    }
    if not any(sides.values()):
        return None
    fig = go.Figure()
    for role, points in sides.items():
        fig.add_trace(go.Bar(x=list(points), y=list(points.values()), name=role, marker_color=_COLOURS[role]))
    fig.update_layout(barmode="group", title="Logged latency (ms)", yaxis_title="ms")
    return fig


def _chart(fig: Any | None, chart_id: str, empty: str) -> str:
    if fig is None:
        return f'<p class="missing" id="chart-{chart_id}-empty">{html.escape(empty)}</p>'
    return f'<div class="chart">{_figure_html(fig, chart_id)}</div>'


def _figures(report: ComparisonReport) -> list[dict[str, Any]]:
    c = report.comparison
    rows = [
        ("records (champion / challenger)", f"{c.champion.records} / {c.challenger.records}"),
        ("shadow pairs", c.shadow.pairs),
        (
            "split records (challenger / champion)",
            f"{c.split.challenger_records} / {c.split.champion_records}",
        ),
        ("score correlation (pairs)", c.shadow.score_correlation),
        ("decision agreement (pairs)", c.shadow.decision_agreement),
        ("swap-in: approved by the challenger only", f"{c.shadow.swap_in} ({_cell(c.shadow.swap_in_rate)})"),
        ("swap-out: approved by the champion only", f"{c.shadow.swap_out} ({_cell(c.shadow.swap_out_rate)})"),
        ("mean score delta (challenger - champion)", c.shadow.mean_score_delta),
        ("principal reason unchanged (both adverse)", c.shadow.principal_reason_agreement),
        (
            "approval rate champion / challenger",
            f"{_cell(c.champion.approval_rate)} / {_cell(c.challenger.approval_rate)}",
        ),
        ("approval-rate difference", c.approval_rate_difference),
        ("score PSI (challenger on champion deciles)", c.score_psi),
    ]
    return [{"figure": k, "value": v} for k, v in rows]


def _offline(report: ComparisonReport) -> list[dict[str, Any]]:
    keys = sorted(set(report.champion.metrics) | set(report.challenger.metrics))
    return [
        {
            "metric": k,
            f"v{report.champion.version} (champion)": report.champion.metrics.get(k),
            f"v{report.challenger.version} (challenger)": report.challenger.metrics.get(k),
        }
        for k in keys
    ]


def _governance(report: ComparisonReport) -> list[dict[str, Any]]:
    return [
        {
            "version": f"v{e.version} ({role})",
            "fairness gate": e.governance.fairness_status or "missing evidence",
            "model card": "present" if e.governance.model_card else "missing evidence",
            "aliases": ", ".join(e.aliases) or "-",
        }
        for role, e in (("champion", report.champion), ("challenger", report.challenger))
    ]


def render_html(report: ComparisonReport) -> str:
    import plotly.offline

    c = report.comparison
    champion, challenger = report.window.champion, report.window.challenger
    title = f"{report.model_name}: v{c.champion_version} (champion) vs v{c.challenger_version} (challenger)"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style><script>{plotly.offline.get_plotlyjs()}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<pre>{html.escape(chr(10).join(report.summary_lines()))}</pre>",
        "<h2>Comparison</h2>",
        _table(_figures(report)),
        _chart(
            _scores(champion, challenger) if len(champion) or len(challenger) else None,
            "scores",
            "no records",
        ),
        _chart(_pairs(champion, challenger), "pairs", "no shadow pairs in the window"),
        _chart(_decisions(c.shadow.decision_matrix), "decisions", "no shadow pairs in the window"),
        "<h2>Reason codes</h2>",
        _table(c.reason_code_differences),
        _chart(_reasons(c.reason_code_differences), "reasons", "no adverse answers in the window"),
        "<h2>Latency</h2>",
        _chart(_latency(report), "latency", "no latency logged"),
        "<h2>Offline metrics (out-of-time test window)</h2>",
        _table(_offline(report)),
        "<h2>Governance evidence</h2>",
        _table(_governance(report)),
    ]
    for role, evidence in (("champion", report.champion), ("challenger", report.challenger)):
        for attribute, table in evidence.fairness.items():
            parts += [
                f"<h3>Fairness audit v{evidence.version} ({role}): {html.escape(attribute)}</h3>",
                _table(table),
            ]
    parts += ["<h2>Realised performance</h2>"]
    realised = report.realised
    if realised.get("status") == "ok":
        parts.append(_table([{"side": k, **v} for k, v in realised.items() if isinstance(v, dict)]))
    else:
        parts.append(f"<p>{html.escape(str(realised.get('reason', 'no outcomes')))}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
