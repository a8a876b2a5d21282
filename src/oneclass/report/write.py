"""Assemble a report from headings, paragraphs, tables and figures; write Markdown and standalone HTML."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from oneclass.files import safe_name, write_atomic

_CSS = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .7em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}
code{background:#f5f5f5;padding:0 .2em}figure{margin:1em 0}figcaption{font-size:.9em;color:#555}"""


class Report:
    """Blocks added in order; `write(dir)` produces `report.md` (PNG files beside it) and `report.html`
    (the same content, images embedded as data URIs so the page can be mailed)."""

    def __init__(self, title: str):
        self.title = title
        self._blocks: list[tuple[str, object]] = []

    def heading(self, text: str) -> None:
        """Start a section."""
        self._blocks.append(("h2", text))

    def paragraph(self, text: str) -> None:
        """Add a paragraph (Markdown inline syntax)."""
        self._blocks.append(("p", text))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        """Add a table."""
        self._blocks.append(("table", (list(header), [list(r) for r in rows])))

    def figure(self, name: str, fig: Figure, caption: str = "") -> None:
        """Add a figure, saved beside the report as `name`.png (made a plain file name: letters, digits, `.`, `_`
        and `-`, numbered where two figures would share it), with its caption."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        taken = {content[0] for kind, content in self._blocks if kind == "figure"}
        name = safe_name(name)
        name = next(n for n in (name, *(f"{name}-{i}" for i in range(2, len(taken) + 3))) if n not in taken)
        self._blocks.append(("figure", (name, buf.getvalue(), caption)))

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write report.md, report.html and the figures into `out_dir`; returns the two files."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        md, body = [f"# {self.title}", ""], [f"<h1>{html.escape(self.title)}</h1>"]
        for kind, content in self._blocks:
            if kind == "h2":
                md += [f"## {content}", ""]
                body.append(f"<h2>{html.escape(content)}</h2>")
            elif kind == "p":
                md += [content, ""]
                body.append(f"<p>{html.escape(content)}</p>")
            elif kind == "table":
                header, rows = content
                md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                md += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows] + [""]
                head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
                cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
            else:
                name, png, caption = content
                write_atomic(out / f"{name}.png", png)
                md += [f"![{caption or name}]({name}.png)", "", *([f"*{caption}*", ""] if caption else [])]
                data = base64.b64encode(png).decode("ascii")
                body.append(f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
                            f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        md_path, html_path = out / "report.md", out / "report.html"
        write_atomic(md_path, "\n".join(md))
        write_atomic(html_path, f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}"
                             f"</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")
        return md_path, html_path
