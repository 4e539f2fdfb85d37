"""The model card of a registered version: Markdown and HTML, from the version's own evidence.

``model_card(tracking_uri, name, version)`` reads ``evidence/evidence.json`` from the version's
training run and the version's registry entry (aliases, tags) and returns the card; nothing is
recomputed, so the card can be rebuilt at any time (the champion-challenger promotion commits it
with each promotion). Sections: intended use and limits; data and its synthetic parts; the
definition of default; features and constraints; metrics with confidence intervals;
calibration; the fairness table and the less-discriminatory-alternative search; the Regulation B
age check and reason stability; the registration gate and any fairness exception (shown loudly);
the reason-code map; lineage.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credit_scoring.errors import RegistryUnavailable
from governance.document import Document, fmt

__all__ = [
    "CARD_ARTIFACT_STEM",
    "EVIDENCE_ARTIFACT",
    "ModelCard",
    "card_document",
    "model_card",
    "render_sections",
]

EVIDENCE_ARTIFACT = "evidence/evidence.json"
CARD_ARTIFACT_STEM = "model_card/model_card"
"""The card logged with the version's run: ``model_card/model_card.md`` and ``.html`` (what
``promotion.evidence`` reads)."""

INTENDED_USE = (
    "Estimates the probability that a consumer loan applicant defaults, for decisions on "
    "point-of-sale instalment loans (approve / refer to an underwriter / decline) with "
    "adverse-action reasons. Decision support under the lender's credit policy: referrals go to "
    "a person."
)
LIMITS = [
    "Developed on a small public data set (4,454 loans) with a synthetic timeline: it has not "
    "been validated on the lender's own applicants or over real time.",
    "The definition of default and the performance window of the training labels are unknown "
    "(see Data); production outcome monitoring must confirm the PDs before they are relied on.",
    "Not for applicants outside the data's ranges (age 18-68, loans up to the request schema's "
    "limits), for other products, or for pricing.",
    "Thin files (no profile) are referred by policy whatever their score.",
    "Age and marital status are never inputs; they are audit attributes only.",
]


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    markdown: str
    html: str

    def write(self, directory: Path, stem: str | None = None) -> tuple[Path, Path]:
        """``<stem>.md`` and ``<stem>.html`` in ``directory`` (default stem: name-vN-model-card)."""
        directory.mkdir(parents=True, exist_ok=True)
        stem = stem or f"{self.name}-v{self.version}-model-card"
        md, page = directory / f"{stem}.md", directory / f"{stem}.html"
        md.write_text(self.markdown, encoding="utf-8")
        page.write_text(self.html, encoding="utf-8")
        return md, page


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1%}"


def _ci(intervals: dict[str, Any], key: str, digits: int = 3) -> str:
    i = intervals.get(key)
    if not i:
        return "-"
    return f"{fmt(i['estimate'], digits)} [{fmt(i['low'], digits)}, {fmt(i['high'], digits)}]"


def _exception_block(doc: Document, ev: dict[str, Any]) -> None:
    gate = ev["gate"]
    exc = ev.get("exception")
    if exc:
        doc.warning(
            "FAIRNESS EXCEPTION IN FORCE: this version is below the four-fifths rule and was "
            "accepted under a signed exception",
            [
                f"Model: {exc['model_name']}; accepted minimum AIR: {exc['air_floor']}",
                f"Signed by {exc['signer']} on {exc['date']}; expires {exc['expiry']}",
                f"Justification: {exc['business_justification']}",
            ],
        )
    if not gate["accepted"]:
        failed = [c for c in gate["checks"] if not c["passed"] and not c["waived"]]
        doc.warning(
            "REFUSED BY THE REGISTRATION GATE: this version may not take the challenger alias",
            [f"{c['name']}: {c['detail']}" for c in failed]
            + [f"exception: {p}" for p in gate["exception_problems"]],
        )


def render_sections(doc: Document, ev: dict[str, Any], detail: bool = False) -> Document:
    """The card's sections, appended to ``doc`` (the training report adds more ``detail``)."""
    m_test, m_valid = ev["metrics"]["test"], ev["metrics"]["valid"]
    _exception_block(doc, ev)

    doc.heading("Intended use and limits")
    doc.paragraph(INTENDED_USE)
    doc.bullets(LIMITS)

    data = ev["data"]
    doc.heading("Data")
    doc.bullets(
        [
            f"Source: {data['source']}.",
            f"Definition of default: {data['definition_of_default']}",
            f"Performance window: {data['performance_window']}",
            f"Timeline: {data['timeline']}",
            data["observed_less_than_term_text"],
            f"Rows: train {data['rows']['train']} ({data['windows']['train']}), validation "
            f"{data['rows']['valid']} ({data['windows']['valid']}), test {data['rows']['test']} "
            f"({data['windows']['test']}); default rate {data['default_rate']:.1%}.",
        ]
    )

    doc.heading("Features and constraints")
    cfg = ev["config"]
    doc.paragraph(
        f"XGBoost, depth {cfg['max_depth']}, child weight {cfg['min_child_weight']}, interactions "
        f"{'allowed' if cfg['interactions'] else 'none (additive)'}, {ev['trees']} trees; dropped "
        f"features: {cfg['dropped']}. Age and marital status are audit attributes, never inputs."
    )
    doc.table(
        ["feature", "kind", "monotone constraint", "used", "reason code", "why"],
        [
            [f["name"], f["kind"], f["constraint"], f["used"], f["reason_code"], f["why"]]
            for f in ev["features"]
        ],
    )

    doc.heading("Performance (out-of-time test window, 95% bootstrap intervals)")
    ci = ev["test_intervals"]
    doc.table(
        ["metric", "test", "validation"],
        [
            ["AUC", _ci(ci, "auc", 4), fmt(m_valid["auc"], 4)],
            ["Gini", _ci(ci, "gini", 4), fmt(m_valid["gini"], 4)],
            ["KS", _ci(ci, "ks"), fmt(m_valid["ks"])],
            ["Brier", fmt(m_test["brier"]), fmt(m_valid["brier"])],
            ["approval rate", _ci(ci, "approval_rate"), fmt(m_valid["approval_rate"])],
            [
                "default rate of approved",
                fmt(m_test["approved_default_rate"]),
                fmt(m_valid["approved_default_rate"]),
            ],
            ["decline rate", fmt(m_test["decline_rate"]), fmt(m_valid["decline_rate"])],
            ["min AIR, approvals", _ci(ci, "air_min"), fmt(m_valid["air_min"])],
            ["min AIR, approvals or referrals", _ci(ci, "air_aor_min"), fmt(m_valid["air_aor_min"])],
        ],
        digits=4,
    )
    policy = ev["policy"]
    doc.paragraph(
        f"Policy (chosen on validation): approve at or above {policy['approve_min_score']:g}, decline below "
        f"{policy['decline_below_score']:g}, refer in between; thin files {policy['thin_file_decision']}."
    )

    doc.heading("Calibration")
    check = ev["calibration"]["valid_check"]
    doc.paragraph(
        f"Calibration gate on validation: {'passed' if check['passed'] else 'FAILED'} (Hosmer-Lemeshow "
        f"p = {check['hosmer_lemeshow']['p']:.3f}, chi2 {check['hosmer_lemeshow']['statistic']:.2f}, "
        f"{check['hosmer_lemeshow']['dof']} dof; every band's observed default rate must lie in the "
        f"binomial 95% interval of its mean PD)."
    )
    doc.table(
        ["band (validation)", "n", "mean PD", "observed", "95% interval", "inside"],
        [
            [
                b["band"],
                b["count"],
                b["mean_pd"],
                b["observed_default_rate"],
                f"{b['interval_low']:.3f}-{b['interval_high']:.3f}",
                b["inside"],
            ]
            for b in check["bands"]
        ],
    )
    doc.table(
        ["band (test)", "n", "mean PD", "observed"],
        [
            [b["band"], b["count"], b["mean_pd"], b["observed_default_rate"]]
            for b in ev["calibration"]["test_bands"]
        ],
    )
    for attribute, rows in ev["calibration"]["by_group_test"].items():
        doc.table(
            [f"{attribute} (test)", "n", "mean PD", "observed", "observed - mean PD"],
            [
                [r["group"], r["count"], r["mean_pd"], r["observed_default_rate"], r["difference"]]
                for r in rows
            ],
        )

    fair = ev["fairness"]
    doc.heading("Fairness: adverse-impact ratios (test window)")
    doc.paragraph(
        f"AIR = a group's favourable-outcome rate over the most favoured group's (groups of at least "
        f"{fair['min_group']}); flagged below {fair['threshold']}. Favourable: approval, and approval or "
        f"referral. Age bands {', '.join(fair['age_bands'])} ({fair['elderly_age']}+ is Regulation B's "
        f"protected band). Marital status is audited only."
    )
    for attribute, rows in fair["test"].items():
        doc.table(
            [attribute, "n", "approval rate", "AIR", "flagged", "approve-or-refer rate", "AIR", "flagged"],
            [
                [
                    r["group"],
                    r["count"],
                    r["approve_rate"],
                    r["air_approve"],
                    r["flagged_approve"],
                    r["approve_or_refer_rate"],
                    r["air_approve_or_refer"],
                    r["flagged_approve_or_refer"],
                ]
                for r in rows
            ],
        )

    search = ev["search"]
    s = search["summary"]
    doc.heading("Search for a less discriminatory alternative")
    doc.paragraph(
        f"{s['evaluated']} of {s['candidate_set']} candidates evaluated (feature subsets, depth, child "
        f"weight, interactions; docs/model.md), {s['eligible']} eligible. Why the winner won: {s['why']}"
    )
    rows = search["table"] if detail else [r for r in search["table"] if r["winner"] or r["candidate"] == 1]
    doc.table(
        [
            "#",
            "candidate",
            "winner",
            "trees",
            "valid AUC",
            "min AIR",
            "AIR aor",
            "calibrated",
            "dAUC [95%]",
            "dAIR [95%]",
            "eligible",
            "test AUC",
            "test min AIR",
        ],
        [
            [
                r["candidate"],
                r["name"],
                r["winner"],
                r["trees"],
                r["valid_auc"],
                r["valid_air_min"],
                r["valid_air_aor_min"],
                r["calibration_passed"],
                f"{fmt(r['d_auc'], 4)} [{fmt(r['d_auc_low'], 4)}, {fmt(r['d_auc_high'], 4)}]",
                f"{fmt(r['d_air'])} [{fmt(r['d_air_low'])}, {fmt(r['d_air_high'])}]",
                r["eligible"],
                r["test_auc"],
                r["test_air_min"],
            ]
            for r in rows
        ],
        digits=4,
    )

    age, stab = ev["age_check"], ev["stability"]
    doc.heading("Regulation B age check and reason stability")
    doc.bullets(
        [
            f"Age check ({'passed' if age['passed'] else 'FAILED'}): {age['applicants']} applicants "
            f"scored at every age {age['ages'][0]}-{age['ages'][1]} through the serving feature path; "
            f"{age['penalised']} score lower at some age 62+ than at a younger age "
            f"(largest loss {age['worst_points']:.2f} points).",
            f"Reason stability ({'passed' if stab['passed'] else 'FAILED'}): the first adverse-action "
            f"reason agrees for {stab['agreement']:.1%} of {stab['applicants']} referred or declined "
            f"validation applicants between seeds {stab['seeds'][0]} and {stab['seeds'][1]} "
            f"(threshold {stab['threshold']:.0%}).",
        ]
    )

    gate = ev["gate"]
    doc.heading(f"Registration gate: {gate['status']}")
    champion = ev.get("champion")
    if champion:
        doc.paragraph(
            f"Compared with champion v{champion['version']} (minimum AIR {champion['min_air']:.3f} "
            "on the same window)."
        )
    doc.table(
        ["check", "result", "detail"],
        [
            [c["name"], "waived" if c["waived"] else ("pass" if c["passed"] else "FAIL"), c["detail"]]
            for c in gate["checks"]
        ],
    )

    doc.heading("Adverse-action reason codes")
    doc.table(["code", "feature", "text"], [[r["code"], r["feature"], r["text"]] for r in ev["reason_codes"]])
    doc.paragraph("Retired (never reused): " + "; ".join(f"{k}: {v}" for k, v in ev["retired_codes"].items()))

    lin = ev["lineage"]
    doc.heading("Lineage")
    doc.bullets(
        [
            f"Code commit: {lin['code_commit']} (uncommitted changes: {fmt(lin['code_dirty'])})",
            f"Training data: SHA-256 {lin['training_data_sha256']} over {lin['training_rows']} "
            "point-in-time rows",
            *(f"{name}: SHA-256 {digest}" for name, digest in lin["source_files"].items()),
            f"MLflow run {ev['run_id']}",
        ]
    )
    return doc


def card_document(ev: dict[str, Any], aliases: list[str]) -> Document:
    doc = Document(f"Model card: {ev['model_name']} v{ev['version']}")
    doc.paragraph(
        f"Registered {ev['created_at']}; aliases when this card was written: {', '.join(aliases) or 'none'}; "
        f"registration gate: {ev['gate']['status']}."
    )
    return render_sections(doc, ev)


def load_evidence(tracking_uri: str, name: str, version: str) -> tuple[dict[str, Any], list[str]]:
    """The version's evidence document and current aliases, from the registry."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        mv = client.get_model_version(name, version)
        if not mv.run_id:
            raise RegistryUnavailable(f"{name} v{version} has no training run to read its evidence from")
        with tempfile.TemporaryDirectory(prefix="credit-card-") as tmp:
            local = client.download_artifacts(mv.run_id, EVIDENCE_ARTIFACT, tmp)
            evidence = json.loads(Path(local).read_text(encoding="utf-8"))
    except (MlflowException, OSError) as exc:
        raise RegistryUnavailable(f"no evidence for {name} v{version} in {tracking_uri}: {exc}") from exc
    return evidence, sorted(mv.aliases)


def model_card(tracking_uri: str, name: str, version: str) -> ModelCard:
    """The card of ``name`` version ``version``, built from what the registry holds."""
    evidence, aliases = load_evidence(tracking_uri, name, version)
    doc = card_document(evidence, aliases)
    return ModelCard(name, str(version), doc.markdown(), doc.html())
