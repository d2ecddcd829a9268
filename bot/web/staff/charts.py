"""Server-side SVG charts for the dashboard: drawn from the data, no external service.

Every label is XML-escaped; the SVG uses presentation attributes only (no inline style or
script), so it is allowed by the console's Content-Security-Policy.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple
from xml.sax.saxutils import escape, quoteattr


def _nice_max(value: float) -> float:
    """The smallest of 4, 5, 10, 20, 50, 100, ... that is >= value (a tidy axis top)."""
    if value <= 4:
        return 4
    step = 1
    while True:
        for mult in (1, 2, 5):
            if step * mult >= value:
                return step * mult
        step *= 10


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    color: str = "#2b6cb0",
    width: int = 640,
    height: int = 220,
) -> str:
    """Vertical bars, one per label (e.g. days), with a y axis and the value on each bar."""
    left, right, top, bottom = 36, 8, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max(values) if values else 0)
    n = max(len(values), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.7, 1)
    parts: List[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" class="chart" aria-label={quoteattr(title)}>',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" font-size="13" font-weight="bold" fill="#222">{escape(title)}</text>',
    ]
    for i in range(5):
        v = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#555">{v:g}</text>')
    for i, (label, value) in enumerate(zip(labels, values)):
        h = plot_h * (value / top_value) if top_value else 0
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{color}">'
            f"<title>{escape(str(label))}: {value:g}</title></rect>"
        )
        if value:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{y - 2:.1f}" font-size="9" text-anchor="middle" '
                f'fill="#222">{value:g}</text>'
            )
        if n <= 16 or i % 2 == 0:
            short = str(label)[5:] if len(str(label)) == 10 else str(label)  # 2024-05-01 -> 05-01
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 14}" font-size="9" '
                f'text-anchor="middle" fill="#555">{escape(short)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(
    title: str, items: Sequence[Tuple[str, float]], color: str = "#38a169", width: int = 640, row: int = 22
) -> str:
    """Horizontal bars (e.g. top intents) with the label on the left and the count on the right."""
    left, top = 190, 28
    height = top + row * max(len(items), 1) + 8
    top_value = max((v for _, v in items), default=0) or 1
    plot_w = width - left - 50
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" class="chart" aria-label={quoteattr(title)}>',
        f"<title>{escape(title)}</title>",
        f'<text x="4" y="16" font-size="13" font-weight="bold" fill="#222">{escape(title)}</text>',
    ]
    if not items:
        parts.append(f'<text x="4" y="{top + 14}" font-size="11" fill="#555">No data yet</text>')
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = plot_w * value / top_value
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" font-size="11" text-anchor="end" fill="#222">'
            f"{escape(str(label))}</text>"
        )
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{color}"/>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 14}" font-size="11" fill="#222">{value:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def rate_bar(title: str, rate: float, width: int = 640, height: int = 56) -> str:
    """A single horizontal gauge for a rate between 0 and 1."""
    rate = min(max(rate, 0.0), 1.0)
    inner = width - 16
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" class="chart" aria-label={quoteattr(title)}>'
        f"<title>{escape(title)}</title>"
        f'<text x="8" y="16" font-size="13" font-weight="bold" fill="#222">{escape(title)}: {rate:.0%}</text>'
        f'<rect x="8" y="26" width="{inner}" height="18" fill="#eee"/>'
        f'<rect x="8" y="26" width="{inner * rate:.1f}" height="18" fill="#dd6b20"/>'
        "</svg>"
    )
