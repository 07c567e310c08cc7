"""Small inline SVG charts drawn in Python: nothing is fetched when the page is viewed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 360, 166
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 20, 42  # margins for the axis labels and the legend
LINE_COLOUR = "#1f77b4"


@dataclass(frozen=True)
class Stack:
    """One coloured layer of a stacked bar chart."""
    label: str
    colour: str
    values: Sequence[int]


def _legend(entries: Sequence[tuple[str, str]]) -> list[str]:
    """One swatch and label per series under the x axis: which colour is what."""
    out, x = ["<g class='legend'>"], float(LEFT)
    for label, colour in entries:
        out.append(f"<rect class='legend-swatch' x='{x:.1f}' y='{HEIGHT - 12}' width='10' "
                   f"height='10' fill='{colour}'/><text class='legend-label' x='{x + 14:.1f}' "
                   f"y='{HEIGHT - 3}'>{escape(label)}</text>")
        x += 24 + 11 * len(label)  # CJK glyphs are about as wide as the font is high
    return out + ["</g>"]


def _frame(title: str, body: list[str], y_labels: list[tuple[float, str]],
           legend: Sequence[tuple[str, str]]) -> str:
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
    return "".join(parts + body + _legend(legend) + ["</svg>"])


def _slots(n: int) -> tuple[float, list[float]]:
    """Width of one category and its left edge, for n categories across the plot."""
    step = (WIDTH - LEFT - RIGHT) / max(n, 1)
    return step, [LEFT + i * step for i in range(n)]


def _x_labels(labels: Sequence[str], lefts: list[float], step: float) -> list[str]:
    every = max(1, len(labels) // 6)  # at most about six labels fit under the axis
    return [f"<text x='{x + step / 2:.1f}' y='{HEIGHT - BOTTOM + 13}' text-anchor='middle' "
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
    return _frame(title, body, [(TOP, f"{top:,}"), (TOP + height / 2, f"{top / 2:,.0f}")],
                  [(s.label, s.colour) for s in stacks])


def line_chart(title: str, labels: Sequence[str], rates: Sequence[float | None],
               series: str = "合格率") -> str:
    """A rate between 0 and 1 per category as a line with a dot per known value."""
    height = HEIGHT - TOP - BOTTOM
    step, lefts = _slots(len(labels))
    points = [(x + step / 2, TOP + (1 - r) * height, label, r)
              for x, label, r in zip(lefts, labels, rates, strict=True) if r is not None]
    body: list[str] = []
    if len(points) > 1:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        body.append(f"<polyline class='line' points='{coords}' fill='none' "
                    f"stroke='{LINE_COLOUR}' stroke-width='2'/>")
    for x, y, label, r in points:
        body.append(f"<circle class='dot' cx='{x:.1f}' cy='{y:.1f}' r='3.5' "
                    f"fill='{LINE_COLOUR}'><title>{escape(label)}: {r:.2%}</title></circle>")
    body += _x_labels(labels, lefts, step)
    return _frame(title, body, [(TOP, "100%"), (TOP + height / 2, "50%")],
                  [(series, LINE_COLOUR)])
