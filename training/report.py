"""A self-contained HTML training report (plots inlined), logged with the run."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from credit_scoring.policy import ScorePolicy

__all__ = ["write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.flag { color: #b00020; font-weight: bold; } img { max-width: 48%; margin: 0.5%; }
"""


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for value in row:
            flagged = isinstance(value, (bool, np.bool_)) and bool(value)
            text = f"{value:.4f}" if isinstance(value, (float, np.floating)) else str(value)
            cls = ' class="flag"' if flagged else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def write_report(
    path: Path,
    *,
    model_name: str,
    summary: Mapping[str, object],
    metrics: Mapping[str, float],
    calibration: pd.DataFrame,
    fairness: Mapping[str, pd.DataFrame],
    policy: ScorePolicy,
    plots: Sequence[Path],
) -> Path:
    metric_rows = pd.DataFrame({"metric": list(metrics), "value": [float(v) for v in metrics.values()]})
    summary_rows = pd.DataFrame({"item": list(summary), "value": [str(v) for v in summary.values()]})
    bands = pd.DataFrame([{"band": b.name, "min_score": b.min_score} for b in policy.bands])
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(model_name)} training report"
        f"</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(model_name)}: training report</h1>",
        "<h2>Run</h2>",
        _table(summary_rows),
        "<h2>Out-of-time test metrics</h2>",
        _table(metric_rows),
        "<h2>Decision policy (chosen on validation)</h2>",
        f"<p>Scale: {policy.scale.base_score:g} points at {policy.scale.base_odds:g}:1 odds, "
        f"{policy.scale.pdo:g} points to double the odds. Approve at or above {policy.approve_min_score:g}; "
        f"decline below {policy.decline_below_score:g}; refer in between; thin files: "
        f"{policy.thin_file_decision.value}.</p>",
        _table(bands),
        "<h2>Calibration by risk band</h2>",
        _table(calibration),
        "<h2>Fairness audit: adverse-impact ratio of approvals</h2>",
        "<p>AIR = group approval rate / highest group approval rate (groups with at least 30 applications)."
        " Flagged below 0.8. Marital status is audited only; it is not a model input.</p>",
    ]
    for name, table in fairness.items():
        parts += [f"<h3>{html.escape(name)}</h3>", _table(table)]
    parts += ["<h2>Plots</h2>", *(_image(p) for p in plots), "</body></html>"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
