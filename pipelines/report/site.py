"""The report's pages share one shell: a local style sheet, the same navigation and no script,
font or tile from anywhere else, so the folder works offline and under a strict Content
Security Policy (no inline style, script or event handler)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from html import escape as e
from pathlib import Path

STYLESHEET = "report.css"
CSS = """body{font-family:"Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;margin:2em;
color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;
padding:4px 8px;vertical-align:top}th{background:#f2f2f2}.late,.bad{color:#b00}.ok{color:#070}
nav a{margin-right:1em}nav{margin:.3em 0}nav.quarters a.current{font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:1em}.chart .chart-title{font-size:12px;
font-weight:bold}.chart .axis,.chart .legend-label{font-size:10px;fill:#555}
.maps{display:flex;flex-wrap:wrap;gap:1.5em}figure.layer{margin:0}
ul.legend{list-style:none;padding:0;font-size:12px}ul.legend svg{margin-right:4px}
td.num{text-align:right}tr.flagged td{background:#fdecea}.note{font-size:12px;color:#555}
code{font-size:90%}"""
PAGES = (("index.html", "概览"), ("assessment.html", "季度考核"), ("maps.html", "图层预览"))

Cell = str | tuple[str, str]  # HTML, or (HTML, CSS class)


def write_stylesheet(reports_dir: Path) -> None:
    (reports_dir / STYLESHEET).write_text(CSS, encoding="utf-8")


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.2%}"


def date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "—"


def swatch(colour: str, outline: bool = False) -> str:
    """A legend's colour as a tiny SVG (an attribute, not an inline style: CSP-friendly)."""
    paint = f"fill='none' stroke='{e(colour)}' stroke-width='2'" if outline else \
        f"fill='{e(colour)}'"
    return (f"<svg class='swatch' width='12' height='12' viewBox='0 0 12 12' aria-hidden='true'>"
            f"<rect x='1' y='1' width='10' height='10' {paint}/></svg>")


def legend_list(items: Iterable[tuple[str, str]], cls: str = "legend") -> str:
    rows = "".join(f"<li>{swatch(colour)}{e(label)}</li>" for label, colour in items)
    return f"<ul class='{cls}'>{rows}</ul>"


def table(headers: list[str], rows: Iterable[list[Cell]], cls: str = "") -> str:
    def td(cell: Cell) -> str:
        return (f"<td class='{cell[1]}'>{cell[0]}</td>" if isinstance(cell, tuple)
                else f"<td>{cell}</td>")

    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(td(c) for c in row) + "</tr>" for row in rows)
    attr = f" class='{cls}'" if cls else ""
    return f"<table{attr}><tr>{head}</tr>{body}</table>"


def shell(title: str, body: str, now: datetime) -> str:
    """A whole page; every page lies in the report's folder, so links are plain names."""
    nav = "".join(f"<a href='{href}'>{label}</a>" for href, label in PAGES)
    return ("<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
            f"<title>{e(title)}</title><link rel='stylesheet' href='{STYLESHEET}'></head>"
            f"<body><h1>{e(title)}</h1><p class='note'>一图 数据质量报告 · 生成时间 "
            f"{e(now.isoformat(timespec='seconds'))}</p><nav class='site'>{nav}</nav>"
            f"{body}</body></html>")
