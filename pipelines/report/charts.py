"""Small inline SVG charts drawn in Python: nothing is fetched when the page is viewed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 360, 150
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 20, 26  # margins for the axis labels


@dataclass(frozen=True)
class Stack:
    """One coloured layer of a stacked bar chart."""
    label: str
    colour: str
    values: Sequence[int]


def _frame(title: str, body: list[str], y_labels: list[tuple[float, str]]) -> str:
    plot_bottom = HEIGHT - BOTTOM
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' width='{WIDTH}' "
             f"height='{HEIGHT}' viewBox='0 0 {WIDTH} {HEIGHT}' role='img' "
             f"aria-label='{escape(title)}'>",
             f"<text x='{LEFT}' y='13' class='chart-title'>{escape(title)}</text>",
             f"<line x1='{LEFT}' y1='{plot_bottom}' x2='{WIDTH - RIGHT}' y2='{plot_bottom}' "
             "stroke='#888'/>"]
    for y, text in y_labels:
        parts.append(f"<line x1='{LEFT}' y1='{y:.1f}' x2='{WIDTH - RIGHT}' y2='{y:.1f}' "
                     "stroke='#eee'/>")
        parts.append(f"<text x='{LEFT - 4}' y='{y + 4:.1f}' text-anchor='end' "
                     f"class='axis'>{escape(text)}</text>")
    return "".join(parts + body + ["</svg>"])


def _slots(n: int) -> tuple[float, list[float]]:
    """Width of one category and its left edge, for n categories across the plot."""
    step = (WIDTH - LEFT - RIGHT) / max(n, 1)
    return step, [LEFT + i * step for i in range(n)]


def _x_labels(labels: Sequence[str], lefts: list[float], step: float) -> list[str]:
    every = max(1, len(labels) // 6)  # at most about six labels fit under the axis
    return [f"<text x='{x + step / 2:.1f}' y='{HEIGHT - 8}' text-anchor='middle' "
            f"class='axis'>{escape(label)}</text>"
            for i, (x, label) in enumerate(zip(lefts, labels, strict=True)) if i % every == 0]


def stacked_bars(title: str, labels: Sequence[str], stacks: Sequence[Stack]) -> str:
    """One bar per category (e.g. per delivery), its layers stacked bottom up."""
    totals = [sum(s.values[i] for s in stacks) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    height = HEIGHT - TOP - BOTTOM
    step, lefts = _slots(len(labels))
    bar = min(step * 0.7, 40)
    body: list[str] = []
    for i, x in enumerate(lefts):
        base: float = HEIGHT - BOTTOM
        for s in stacks:
            h = s.values[i] / top * height
            base -= h
            body.append(f"<rect class='bar' x='{x + (step - bar) / 2:.1f}' y='{base:.1f}' "
                        f"width='{bar:.1f}' height='{h:.1f}' fill='{s.colour}'><title>"
                        f"{escape(labels[i])} {escape(s.label)}: {s.values[i]}</title></rect>")
    body += _x_labels(labels, lefts, step)
    return _frame(title, body, [(TOP, f"{top:,}"), (TOP + height / 2, f"{top / 2:,.0f}")])


def line_chart(title: str, labels: Sequence[str], rates: Sequence[float | None]) -> str:
    """A rate between 0 and 1 per category as a line with a dot per known value."""
    height = HEIGHT - TOP - BOTTOM
    step, lefts = _slots(len(labels))
    points = [(x + step / 2, TOP + (1 - r) * height, label, r)
              for x, label, r in zip(lefts, labels, rates, strict=True) if r is not None]
    body: list[str] = []
    if len(points) > 1:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        body.append(f"<polyline class='line' points='{coords}' fill='none' stroke='#1f77b4' "
                    "stroke-width='2'/>")
    for x, y, label, r in points:
        body.append(f"<circle class='dot' cx='{x:.1f}' cy='{y:.1f}' r='3.5' fill='#1f77b4'>"
                    f"<title>{escape(label)}: {r:.2%}</title></circle>")
    body += _x_labels(labels, lefts, step)
    return _frame(title, body, [(TOP, "100%"), (TOP + height / 2, "50%")])
