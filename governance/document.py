"""A small document model rendered to both Markdown and self-contained HTML.

The model card and the training report say the same things in two formats; writing them once as
blocks (headings, paragraphs, lists, tables, warnings, images) keeps the two from drifting apart.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Document", "fmt"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; color: #222; max-width: 1100px;
       line-height: 1.4; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; vertical-align: top; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.warning { border: 3px solid #b00020; background: #fdecee; padding: 0.8rem 1rem; margin: 1rem 0; }
.warning strong { color: #b00020; } img { max-width: 48%; margin: 0.5%; }
"""


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers rounded for reading, booleans as yes/no, None and NaN as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}f}"
    return str(value)


@dataclass
class Document:
    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> Document:
        self.blocks.append(("heading", (level, text)))
        return self

    def paragraph(self, text: str) -> Document:
        self.blocks.append(("paragraph", text))
        return self

    def bullets(self, items: Iterable[str]) -> Document:
        self.blocks.append(("bullets", list(items)))
        return self

    def warning(self, title: str, lines: Sequence[str]) -> Document:
        """Shown loudly in both formats (a fairness exception, a refused gate)."""
        self.blocks.append(("warning", (title, list(lines))))
        return self

    def table(self, header: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 3) -> Document:
        self.blocks.append(("table", (list(header), [[fmt(v, digits) for v in r] for r in rows])))
        return self

    def image(self, path: Path) -> Document:
        """HTML only (inlined); Markdown names the file."""
        self.blocks.append(("image", path))
        return self

    # ------------------------------------------------------------------ Markdown
    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for kind, value in self.blocks:
            if kind == "heading":
                level, text = value
                out += [f"{'#' * level} {text}", ""]
            elif kind == "paragraph":
                out += [value, ""]
            elif kind == "bullets":
                out += [f"- {item}" for item in value] + [""]
            elif kind == "warning":
                title, lines = value
                out += [f"> **{title}**", ">"] + [f"> {line}  " for line in lines] + [""]
            elif kind == "table":
                header, rows = value
                out.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
                out.append("| " + " | ".join("---" for _ in header) + " |")
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
                out.append("")
            elif kind == "image":
                out += [f"(plot: `{Path(value).name}`)", ""]
        return "\n".join(out).rstrip() + "\n"

    # ------------------------------------------------------------------ HTML
    def html(self) -> str:
        title = html.escape(self.title)
        parts = [
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{_STYLE}</style></head><body>",
            f"<h1>{title}</h1>",
        ]
        for kind, value in self.blocks:
            if kind == "heading":
                level, text = value
                parts.append(f"<h{level}>{html.escape(text)}</h{level}>")
            elif kind == "paragraph":
                parts.append(f"<p>{html.escape(value)}</p>")
            elif kind == "bullets":
                parts.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in value) + "</ul>")
            elif kind == "warning":
                title_, lines = value
                body = "".join(f"<div>{html.escape(line)}</div>" for line in lines)
                parts.append(f"<div class='warning'><strong>{html.escape(title_)}</strong>{body}</div>")
            elif kind == "table":
                header, rows = value
                head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
                body = "".join(
                    "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
                )
                parts.append(f"<table><tr>{head}</tr>{body}</table>")
            elif kind == "image":
                data = base64.b64encode(Path(value).read_bytes()).decode()
                parts.append(
                    f'<img alt="{html.escape(Path(value).stem)}" src="data:image/png;base64,{data}">'
                )
        parts.append("</body></html>")
        return "\n".join(parts)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
