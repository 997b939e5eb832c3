"""Charts drawn on the server as SVG: no JavaScript, nothing loaded from elsewhere.

Each function takes the data and the visible words (title, labels, series names: already in
the page's language) and returns the SVG markup, every text escaped. The chart is an image
with a title (`role="img"`, `<title>`) and carries its numbers as text labels; pages show the
same numbers in a table beside it for screen readers and for copying. Every bar is a
`<rect class="bar" data-label="…" data-value="…">`, every line point a `<circle class="point">`,
so tests (and people) can read the drawn values back.

- `bar_chart`: one horizontal bar per label (negative values extend left of zero);
- `grouped_bars`: several series per label, side by side, or `stacked` end to end;
- `line_chart`: one polyline per series over ordered labels (months, days).
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 520
LABEL_W = 130  # room for the category labels left of the bars
VALUE_W = 80  # room for the value written after a bar
BAR_H = 18
GAP = 8
TOP = 30  # the title
LEGEND_H = 22
PALETTE = ("#0b5cad", "#d9822b", "#1e6b34", "#8e44ad", "#b3261e", "#5b6b7c")
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def plain(value: float) -> str:
    """The default number format: whole numbers without decimals, others with up to two."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _attr(value: object) -> str:
    return str(escape(str(value)))


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _raw(value: float) -> str:
    """A value as data: whole numbers bare, others as Python writes them."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _units(text: str) -> int:
    """Rough width in half-em units: a CJK (wide) character counts two, others one."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _clip(label: str, limit: int = (LABEL_W - 8) // 7) -> str:
    """The label cut to fit left of the bars (the whole label stays in the bar's tooltip)."""
    if _units(label) <= limit:
        return label
    while _units(label) > limit - 1:
        label = label[:-1]
    return label + "…"


def _open(title: str, height: float, css: str) -> list[str]:
    title_id = f"chart-{next(_ids)}"
    return [
        f'<svg class="chart {css}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {WIDTH} {_n(height)}" aria-labelledby="{title_id}" '
        f'preserveAspectRatio="xMinYMin meet">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<text class="chart-title" x="0" y="18" font-size="14" font-weight="600">'
        f"{escape(title)}</text>",
    ]


def _empty(title: str, empty: str) -> Markup:
    parts = _open(title, TOP + 30, "chart-empty")
    parts.append(f'<text x="0" y="{TOP + 18}" font-size="13" fill="#5b6b7c">{escape(empty)}</text>')
    parts.append("</svg>")
    return _svg(parts)


def _svg(parts: list[str]) -> Markup:
    # Every piece of text in `parts` went through escape() above: the markup is ours.
    return Markup("".join(parts))  # noqa: S704


def _scale(low: float, high: float, span: float) -> Callable[[float], float]:
    """Value → x offset within `span`, over [min(low, 0), max(high, 0)]."""
    low, high = min(low, 0.0), max(high, 0.0)
    width = (high - low) or 1.0
    return lambda v: (v - low) * span / width


def _legend(series: Sequence[Series], y: float) -> list[str]:
    parts, x = [], 0.0
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<rect class="legend-key" x="{_n(x)}" y="{_n(y)}" width="12" height="12" '
            f'fill="{colour}"/><text class="legend" x="{_n(x + 16)}" y="{_n(y + 11)}" '
            f'font-size="12">{escape(s.name)}</text>'
        )
        x += 16 + 7 * max(_units(s.name), 4) + 16
    return parts


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    fmt: Callable[[float], str] = plain,
    empty: str = "—",
) -> Markup:
    """One horizontal bar per label, its value written after it."""
    return grouped_bars(labels, [Series("", values)], title=title, fmt=fmt, empty=empty)


def grouped_bars(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    stacked: bool = False,
    fmt: Callable[[float], str] = plain,
    empty: str = "—",
) -> Markup:
    """Several series per label: side by side, or with `stacked` end to end (then the
    values should not be negative; the total is written after the stack)."""
    if not labels or not series:
        return _empty(title, empty)
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(labels)}")
    named = len(series) > 1 or bool(series[0].name)
    per_row = 1 if stacked else len(series)
    row_h = per_row * BAR_H + GAP
    top = TOP + (LEGEND_H if named else 0)
    height = top + row_h * len(labels) + 4
    span = WIDTH - LABEL_W - VALUE_W
    if stacked:
        totals = [sum(max(s.values[i], 0) for s in series) for i in range(len(labels))]
        x_of = _scale(0, max(totals, default=0), span)
    else:
        every = [v for s in series for v in s.values]
        x_of = _scale(min(every), max(every), span)
    zero = LABEL_W + x_of(0)
    parts = _open(title, height, "chart-bars" if not stacked else "chart-stacked")
    if named:
        parts += _legend(series, TOP - 4)
    for row, label in enumerate(labels):
        y0 = top + row * row_h
        parts.append(
            f'<text class="label" x="{LABEL_W - 6}" y="{_n(y0 + per_row * BAR_H / 2 + 4)}" '
            f'font-size="12" text-anchor="end">{escape(_clip(label))}</text>'
        )
        offset = 0.0
        for i, s in enumerate(series):
            value = float(s.values[row])
            colour = PALETTE[i % len(PALETTE)]
            if stacked:
                x, w, y = zero + x_of(offset) - x_of(0), x_of(max(value, 0)) - x_of(0), y0
                offset += max(value, 0)
            else:
                start, end = sorted((x_of(0), x_of(value)))
                x, w, y = LABEL_W + start, end - start, y0 + i * BAR_H
            data = f'data-label="{_attr(label)}" data-value="{_attr(_raw(value))}"'
            if named:
                data += f' data-series="{_attr(s.name)}"'
            parts.append(
                f'<rect class="bar" {data} x="{_n(x)}" y="{_n(y + 1)}" width="{_n(max(w, 0.5))}" '
                f'height="{BAR_H - 2}" fill="{colour}"><title>{escape(label)}'
                f"{' · ' + escape(s.name) if named else ''}: {escape(fmt(value))}</title></rect>"
            )
            if not stacked:
                after = LABEL_W + max(x_of(0), x_of(value)) + 4
                parts.append(
                    f'<text class="value" x="{_n(after)}" y="{_n(y + BAR_H - 5)}" '
                    f'font-size="11">{escape(fmt(value))}</text>'
                )
        if stacked:
            parts.append(
                f'<text class="value" x="{_n(zero + x_of(offset) - x_of(0) + 4)}" '
                f'y="{_n(y0 + BAR_H - 5)}" font-size="11">{escape(fmt(offset))}</text>'
            )
    parts.append(
        f'<line class="axis" x1="{_n(zero)}" x2="{_n(zero)}" y1="{top - 2}" '
        f'y2="{_n(height - 4)}" stroke="#5b6b7c"/>'
    )
    parts.append("</svg>")
    return _svg(parts)


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    fmt: Callable[[float], str] = plain,
    empty: str = "—",
) -> Markup:
    """One line per series over the labels in order; each point carries its value."""
    if not labels or not series:
        return _empty(title, empty)
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(labels)}")
    left, right, plot_h = 60, 20, 160
    top = TOP + LEGEND_H
    height = top + plot_h + 40
    every = [float(v) for s in series for v in s.values]
    low, high = min(min(every), 0.0), max(max(every), 0.0)
    span_y = (high - low) or 1.0
    step = (WIDTH - left - right) / max(len(labels) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (i * step if len(labels) > 1 else (WIDTH - left - right) / 2)
        return x, top + plot_h - (v - low) * plot_h / span_y

    parts = _open(title, height, "chart-line")
    parts += _legend(series, TOP - 4)
    base = xy(0, 0)[1]
    parts.append(
        f'<line class="axis" x1="{left}" x2="{WIDTH - right}" y1="{_n(base)}" y2="{_n(base)}" '
        f'stroke="#5b6b7c"/>'
    )
    for value in (low, high) if low != high else (high,):
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{_n(xy(0, value)[1] + 4)}" font-size="11" '
            f'text-anchor="end">{escape(fmt(value))}</text>'
        )
    shown_every = max(1, len(labels) // 8)  # at most about eight labels under the axis
    for i, label in enumerate(labels):
        if i % shown_every == 0 or i == len(labels) - 1:
            x = xy(i, 0)[0]
            parts.append(
                f'<text class="label" x="{_n(x)}" y="{top + plot_h + 18}" font-size="11" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    for k, s in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        points = [xy(i, float(v)) for i, v in enumerate(s.values)]
        path = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
        parts.append(
            f'<polyline class="line" data-series="{_attr(s.name)}" points="{path}" '
            f'fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        for (x, y), label, v in zip(points, labels, s.values, strict=True):
            parts.append(
                f'<circle class="point" data-series="{_attr(s.name)}" '
                f'data-label="{_attr(label)}" data-value="{_attr(_raw(float(v)))}" '
                f'cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="{colour}"><title>{escape(s.name)} · '
                f"{escape(label)}: {escape(fmt(float(v)))}</title></circle>"
            )
    parts.append("</svg>")
    return _svg(parts)
