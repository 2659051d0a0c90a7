"""Inline SVG plots built as strings (no plotting library, nothing loaded from outside the file)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

OUTCOME_COLORS = {
    "accepted": "#1a7f37", "duplicate": "#8250df", "exhausted": "#bc6c00", "failed": "#cf222e",
    "error": "#57606a", "unfinished": "#8c959f",
}
INK, GRID, MUTED = "#24292f", "#d8dee4", "#57606a"
PALETTE = ["#0969da", "#1a7f37", "#bc6c00", "#8250df", "#cf222e", "#1b7c83", "#9a6700", "#57606a"]


def _svg(width: int, height: int, body: str, label: str, css: str = "plot") -> str:
    return (f'<svg class="{css}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
            f"<title>{escape(label)}</title>{body}</svg>")


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 11,
          color: str = MUTED, weight: str = "normal") -> str:
    return (f'<text x="{_f(x)}" y="{_f(y)}" font-size="{size}" fill="{color}" text-anchor="{anchor}" '
            f'font-weight="{weight}">{escape(text)}</text>')


def _line(x1: float, y1: float, x2: float, y2: float, color: str = GRID, width: float = 1,
          dash: str = "") -> str:
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" stroke="{color}" '
            f'stroke-width="{width}"{dashed}/>')


def _legend(items: list[tuple[str, str]], x: float, y: float) -> str:
    parts = []
    for name, color in items:
        parts.append(f'<rect x="{_f(x)}" y="{_f(y - 9)}" width="10" height="10" rx="2" fill="{color}"/>')
        parts.append(_text(x + 14, y, name))
        x += 22 + 6.5 * len(name)
    return "".join(parts)


@dataclass
class Trajectory:
    """One probe's line in the divergence plot: (round, divergence, grounded) per judged round."""

    anchor: str
    label: str
    outcome: str
    points: list[tuple[int, float, bool]] = field(default_factory=list)


def divergence_plot(lines: list[Trajectory], threshold: float, max_rounds: int) -> str:
    """Divergence per round, one line per probe, the mean per round in bold, the threshold dashed."""
    width, height, left, right, top, bottom = 620, 330, 46, 20, 16, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    rounds = max(max_rounds, max((r for t in lines for r, _, _ in t.points), default=1), 1)

    def x(r: float) -> float:  # rounds sit 24 px inside the frame, so jittered points stay in it
        return left + (plot_w / 2 if rounds == 1 else 24 + (r - 1) / (rounds - 1) * (plot_w - 48))

    def y(d: float) -> float:
        return top + (1 - min(max(d, 0.0), 1.0)) * plot_h

    parts = [f'<rect x="{left}" y="{_f(top)}" width="{plot_w}" height="{_f(y(threshold) - top)}" '
             f'fill="#dafbe1" opacity="0.45"/>']
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(_line(left, y(tick), left + plot_w, y(tick)))
        parts.append(_text(left - 6, y(tick) + 4, f"{tick:.2f}", anchor="end"))
    for r in range(1, rounds + 1):
        parts.append(_line(x(r), top, x(r), top + plot_h))
        parts.append(_text(x(r), top + plot_h + 16, f"round {r}", anchor="middle"))
    parts.append(_text(14, top + plot_h / 2, "divergence", anchor="middle")
                 .replace("<text ", f'<text transform="rotate(-90 14 {_f(top + plot_h / 2)})" ', 1))
    for i, line in enumerate(lines):
        if not line.points:
            continue
        color = OUTCOME_COLORS.get(line.outcome, MUTED)
        jitter = ((i % 9) - 4) * 1.6 if rounds > 1 else ((i % 9) - 4) * 6
        coords = [(x(r) + jitter, y(d), grounded) for r, d, grounded in line.points]
        body = [f"<title>{escape(line.label)}</title>"]
        if len(coords) > 1:
            body.append('<polyline fill="none" stroke="{}" stroke-width="1.4" stroke-opacity="0.55" '
                        'points="{}"/>'.format(color, " ".join(f"{_f(a)},{_f(b)}" for a, b, _ in coords)))
        for a, b, grounded in coords:
            fill = color if grounded else "#ffffff"
            body.append(f'<circle cx="{_f(a)}" cy="{_f(b)}" r="3.2" fill="{fill}" stroke="{color}" '
                        'stroke-width="1.3"/>')
        parts.append(f'<a href="#{escape(line.anchor)}" class="traj">{"".join(body)}</a>')
    means = []
    for r in range(1, rounds + 1):
        values = [d for t in lines for rr, d, _ in t.points if rr == r]
        if values:
            means.append((x(r), y(sum(values) / len(values)), sum(values) / len(values)))
    if means:
        if len(means) > 1:
            parts.append('<polyline fill="none" stroke="{}" stroke-width="3" points="{}"/>'.format(
                INK, " ".join(f"{_f(a)},{_f(b)}" for a, b, _ in means)))
        for a, b, value in means:
            parts.append(f'<rect x="{_f(a - 4)}" y="{_f(b - 4)}" width="8" height="8" fill="{INK}">'
                         f"<title>mean divergence {value:.3f}</title></rect>")
    parts.append(_line(left, y(threshold), left + plot_w, y(threshold), "#cf222e", 1.6, "6 4"))
    parts.append(_text(left + plot_w - 4, y(threshold) - 5, f"threshold {threshold:.2f}", anchor="end",
                       color="#cf222e"))
    present = [o for o in OUTCOME_COLORS if any(t.outcome == o and t.points for t in lines)]
    legend = [(o, OUTCOME_COLORS[o]) for o in present] + [("mean", INK)]
    parts.append(_legend(legend, left, height - 14))
    parts.append(_text(width - right, height - 14, "hollow: not grounded", anchor="end"))
    return _svg(width, height, "".join(parts),
                "Divergence per round: one line per probe, mean in bold, acceptance threshold dashed")


def grouped_bars(categories: list[str], series: list[tuple[str, str, list[float]]], label: str) -> str:
    """Vertical grouped bars: one group per category, one bar per series."""
    width, height, left, right, top, bottom = 420, 330, 40, 12, 20, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for _, _, values in series for v in values] + [1])
    step = _nice_step(peak)
    top_value = math.ceil(peak / step) * step
    parts = []
    tick = 0.0
    while tick <= top_value + 1e-9:
        ty = top + plot_h - tick / top_value * plot_h
        parts.append(_line(left, ty, left + plot_w, ty))
        parts.append(_text(left - 6, ty + 4, _f(tick), anchor="end"))
        tick += step
    group_w = plot_w / max(len(categories), 1)
    bar_w = min(34.0, group_w * 0.8 / max(len(series), 1))
    for c, category in enumerate(categories):
        start = left + c * group_w + (group_w - bar_w * len(series)) / 2
        for s, (name, color, values) in enumerate(series):
            value = values[c]
            bar_h = value / top_value * plot_h
            bx, by = start + s * bar_w, top + plot_h - bar_h
            parts.append(f'<rect x="{_f(bx + 1)}" y="{_f(by)}" width="{_f(bar_w - 2)}" '
                         f'height="{_f(bar_h)}" fill="{color}"><title>{escape(category)}: '
                         f"{escape(name)} {_f(value)}</title></rect>")
            if value:
                parts.append(_text(bx + bar_w / 2, by - 3, _f(value), anchor="middle", size=10))
        parts.append(_text(left + (c + 0.5) * group_w, top + plot_h + 16, category, anchor="middle"))
    parts.append(_legend([(name, color) for name, color, _ in series], left, height - 14))
    return _svg(width, height, "".join(parts), label)


def _nice_step(peak: float) -> float:
    raw = peak / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return max(factor * magnitude, 1 if peak >= 4 else factor * magnitude)
    return 10 * magnitude


@dataclass
class Bar:
    """A horizontal bar: a label, then segments (value, color, tooltip) laid end to end."""

    label: str
    segments: list[tuple[float, str, str]]
    note: str = ""  # text after the bar (defaults to the total)


def horizontal_bars(bars: list[Bar], label: str, *, label_width: int = 170, width: int = 620,
                    row: int = 26) -> str:
    """Horizontal (optionally stacked) bars with their labels, scaled to the largest total."""
    note_width = 110
    height = row * len(bars) + 10
    plot_w = width - label_width - note_width
    peak = max([sum(v for v, _, _ in b.segments) for b in bars] + [1e-9])
    parts = []
    for i, bar in enumerate(bars):
        top = 5 + i * row
        parts.append(_text(label_width - 8, top + row / 2 + 4, _short(bar.label, 28), anchor="end",
                           color=INK))
        x = float(label_width)
        for value, color, tip in bar.segments:
            w = value / peak * plot_w if peak > 0 else 0
            if w > 0:
                parts.append(f'<rect x="{_f(x)}" y="{_f(top + 4)}" width="{_f(max(w, 1))}" '
                             f'height="{row - 8}" rx="2" fill="{color}"><title>{escape(tip)}</title></rect>')
            x += w
        total = sum(v for v, _, _ in bar.segments)
        parts.append(_text(x + 6, top + row / 2 + 4, bar.note or _f(total), color=INK))
    return _svg(width, height, "".join(parts), label)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def strip(segments: list[tuple[float, str, str]], scale: float, width: int = 180, height: int = 14) -> str:
    """A small stacked bar for a table cell; `scale` is the value that fills the width."""
    parts, x = [], 0.0
    for value, color, tip in segments:
        w = value / scale * width if scale > 0 else 0
        if w > 0:
            parts.append(f'<rect x="{_f(x)}" y="0" width="{_f(w)}" height="{height}" fill="{color}">'
                         f"<title>{escape(tip)}</title></rect>")
        x += w
    label = ", ".join(t for v, _, t in segments if v)
    return _svg(width, height, "".join(parts), label or "none", css="strip")


def sparkline(values: list[float | None], threshold: float, width: int = 84, height: int = 22) -> str:
    """A probe's divergence over its rounds, with the threshold as a faint line."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    n = max(len(values), 2)

    def xy(i: int, v: float) -> tuple[float, float]:
        return 3 + i / (n - 1) * (width - 6), 2 + (1 - min(max(v, 0), 1)) * (height - 4)

    parts = [_line(0, xy(0, threshold)[1], width, xy(0, threshold)[1], "#cf222e", 0.8, "3 2")]
    if len(points) > 1:
        parts.append('<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>'.format(
            INK, " ".join("{},{}".format(*map(_f, xy(i, v))) for i, v in points)))
    for i, v in points:
        a, b = xy(i, v)
        parts.append(f'<circle cx="{_f(a)}" cy="{_f(b)}" r="2.2" fill="{INK}"/>')
    label = "divergence by round: " + ", ".join("-" if v is None else f"{v:.2f}" for v in values)
    return _svg(width, height, "".join(parts), label, css="spark")


@dataclass
class Point:
    label: str
    x: float
    y: float
    low: float | None = None
    high: float | None = None
    family: str = ""


def log_x_plot(points: list[Point], *, baseline: tuple[str, float] | None, x_label: str, y_label: str,
               label: str) -> str:
    """Points on a log x axis with error bars, each family joined by a line, a baseline dashed."""
    width, height, left, right, top, bottom = 660, 360, 56, 130, 16, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [p.x for p in points if p.x > 0]
    if not xs:
        return ""
    lo_exp, hi_exp = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    if hi_exp == lo_exp:
        hi_exp += 1
    ys = [v for p in points for v in (p.y, p.low, p.high) if v is not None]
    if baseline:
        ys.append(baseline[1])
    y_lo = math.floor((min(ys) - 0.02) * 20) / 20
    y_hi = math.ceil((max(ys) + 0.02) * 20) / 20

    def x(v: float) -> float:
        return left + (math.log10(v) - lo_exp) / (hi_exp - lo_exp) * plot_w

    def y(v: float) -> float:
        return top + (y_hi - v) / (y_hi - y_lo) * plot_h

    parts = []
    for exp in range(lo_exp, hi_exp + 1):
        parts.append(_line(x(10 ** exp), top, x(10 ** exp), top + plot_h))
        parts.append(_text(x(10 ** exp), top + plot_h + 16, f"{10 ** exp:,}", anchor="middle"))
    tick = y_lo
    while tick <= y_hi + 1e-9:
        parts.append(_line(left, y(tick), left + plot_w, y(tick)))
        parts.append(_text(left - 6, y(tick) + 4, f"{tick:.2f}", anchor="end"))
        tick += 0.05 if y_hi - y_lo <= 0.4 else 0.1
    parts.append(_text(left + plot_w / 2, height - 8, x_label, anchor="middle"))
    parts.append(_text(14, top + plot_h / 2, y_label, anchor="middle")
                 .replace("<text ", f'<text transform="rotate(-90 14 {_f(top + plot_h / 2)})" ', 1))
    if baseline:
        parts.append(_line(left, y(baseline[1]), left + plot_w, y(baseline[1]), MUTED, 1.4, "6 4"))
        parts.append(_text(left + plot_w - 4, y(baseline[1]) + 14, f"{baseline[0]} {baseline[1]:.3f}",
                           anchor="end"))
    families = list(dict.fromkeys(p.family or p.label for p in points if p.x > 0))
    colors = {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(families)}
    placed: list[tuple[float, float]] = []
    for family in families:
        members = sorted((p for p in points if (p.family or p.label) == family and p.x > 0),
                         key=lambda p: p.x)
        color = colors[family]
        if len(members) > 1:
            parts.append('<polyline fill="none" stroke="{}" stroke-width="1.6" points="{}"/>'.format(
                color, " ".join(f"{_f(x(p.x))},{_f(y(p.y))}" for p in members)))
        for p in members:
            px, py = x(p.x), y(p.y)
            if p.low is not None and p.high is not None:
                parts.append(_line(px, y(p.low), px, y(p.high), color, 1.2))
            parts.append(f'<circle cx="{_f(px)}" cy="{_f(py)}" r="4.5" fill="{color}"><title>'
                         f"{escape(p.label)}: {p.y:.3f} at {p.x:,.0f} tokens</title></circle>")
            lx, ly = px + 7, py - 6
            while any(abs(ly - b) < 11 and abs(lx - a) < 70 for a, b in placed):
                ly += 12  # labels of points that coincide are stacked, not overprinted
            placed.append((lx, ly))
            parts.append(_text(lx, ly, p.label, color=color, size=10))
    legend_y = top + 12
    for family in families:
        parts.append(f'<rect x="{left + plot_w + 10}" y="{legend_y + 20}" width="10" height="10" '
                     f'fill="{colors[family]}"/>')
        parts.append(_text(left + plot_w + 24, legend_y + 29, family, color=INK))
        legend_y += 16
    return _svg(width, height, "".join(parts), label)
