"""One self-contained HTML page of plotly figures and small tables (opens offline).

plotly.js is inlined once (in the first figure); every figure is a ``<section>`` with an id
``plot-<name>`` so tests and readers can find it. Only SVG trace types are used (no WebGL), so
the page renders in a headless browser without a GPU.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Section:
    name: str
    title: str
    figure: Any | None = None
    note: str = ""
    table: list[dict[str, Any]] | None = None


@dataclass
class Page:
    title: str
    intro: str = ""
    summary: list[tuple[str, str]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def add(self, section: Section) -> None:
        self.sections.append(section)

    def render(self) -> str:
        import plotly.io as pio

        parts = []
        first = True
        for s in self.sections:
            body = f'<h2>{html.escape(s.title)}</h2>'
            if s.note:
                body += f'<p class="note">{html.escape(s.note)}</p>'
            if s.figure is not None:
                body += pio.to_html(s.figure, full_html=False, include_plotlyjs=first, div_id=f"fig-{s.name}",
                                    config={"displaylogo": False, "responsive": True})
                first = False
            if s.table:
                body += table_html(s.table)
            parts.append(f'<section id="plot-{html.escape(s.name)}">{body}</section>')
        summary = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in self.summary)
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>
<link rel="icon" href="data:,">
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222}}
table{{border-collapse:collapse;margin:0.5em 0 1.5em}} td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
th{{background:#f4f4f4}} section{{margin-bottom:2em}} .note{{color:#555;max-width:70em}}
</style></head><body>
<h1>{html.escape(self.title)}</h1>
<p class="note">{html.escape(self.intro)}</p>
<table class="summary">{summary}</table>
{''.join(parts)}
</body></html>
"""


def fmt(value: Any) -> str:
    """Short human text for a table cell."""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value == 0 or 1e-3 <= abs(value) < 1e6:
            return f"{value:.4g}"
        return f"{value:.3e}"
    return str(value)


def table_html(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(r.get(c, '')))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"
