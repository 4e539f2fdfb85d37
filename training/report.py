"""The training report: a self-contained HTML page (plots inlined), logged with the run.

It says what the model card says (``governance.model_card.render_sections``: data honesty,
features, metrics with intervals, calibration, fairness, the whole search table, the gate and any
exception, reason codes, lineage) and adds the run summary and the plots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from governance.document import Document
from governance.model_card import render_sections

__all__ = ["write_report"]


def write_report(
    path: Path, *, evidence: dict[str, Any], summary: Mapping[str, object], plots: Sequence[Path]
) -> Path:
    doc = Document(f"{evidence['model_name']} v{evidence['version']}: training report")
    doc.heading("Run")
    doc.table(["item", "value"], [[k, str(v)] for k, v in summary.items()])
    render_sections(doc, evidence, detail=True)
    doc.heading("Plots (out-of-time test window)")
    for plot in plots:
        doc.image(plot)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc.html(), encoding="utf-8")
    return path
