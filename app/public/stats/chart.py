"""The quarterly trend as an inline SVG bar chart, drawn on the server (no JavaScript).

Bars are drawn from the figures as shown: a hidden count ("<5") is drawn as a dashed outline up
to the height of 5 and labelled "<5", so the picture tells no more than the table.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from app.services.reports.stats import SMALL, SMALL_LIMIT, QuarterRow

WIDTH = 640
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 20, 50
MAX_QUARTERS = 8
COLOURS = ("#1f5fa8", "#6aa84f")


def _value(shown: int | str) -> int:
    return SMALL_LIMIT if shown == SMALL else int(shown)


def trend_svg(
    rows: Sequence[QuarterRow],
    quarter_label,
    *,
    title: str,
    desc: str,
    series: tuple[str, str],
) -> Markup:
    """Received and concluded per quarter, oldest on the left (``rows`` newest first)."""
    shown = list(reversed(rows[:MAX_QUARTERS]))
    top = max([SMALL_LIMIT, *(_value(r.received) for r in shown)])
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(shown), 1)
    bar = min(28.0, slot / 3)
    parts = [
        f'<svg class="stats-chart" role="img" aria-labelledby="chart-title chart-desc" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(desc)}</desc>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        'stroke="#555" stroke-width="1"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for index, row in enumerate(shown):
        x0 = LEFT + index * slot + slot / 2 - bar
        for offset, (value, colour) in enumerate(
            ((row.received, COLOURS[0]), (row.concluded, COLOURS[1]))
        ):
            height = plot_h * _value(value) / top
            x = x0 + offset * bar
            y = TOP + plot_h - height
            if value == SMALL:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" height="{height:.1f}" '
                    f'fill="none" stroke="{colour}" stroke-dasharray="3 2"/>'
                )
            else:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" height="{height:.1f}" '
                    f'fill="{colour}"/>'
                )
            parts.append(
                f'<text x="{x + bar / 2 - 1:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                f'font-size="11">{escape(str(value))}</text>'
            )
        parts.append(
            f'<text x="{LEFT + index * slot + slot / 2:.1f}" y="{TOP + plot_h + 16}" '
            f'text-anchor="middle" font-size="11">{escape(quarter_label(row.quarter))}</text>'
        )
    for index, (name, colour) in enumerate(zip(series, COLOURS, strict=True)):
        x = LEFT + index * 160
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 16}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="{HEIGHT - 6}" font-size="12">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  every text above is escaped
