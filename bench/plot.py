"""Line charts as SVG, for bench/report.py. Standard library only.

A chart is a set of named series of (x, y) points on linear or logarithmic
axes; latency distributions use a "nines" axis (the quantile q drawn at
-log10(1 - q), so p50, p99, p99.9 ... are evenly spaced).
"""

import math
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 400
LEFT, RIGHT, TOP, BOTTOM = 80, 230, 40, 56
COLOURS = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]
# Where the maximum (q = 1) of a latency distribution is drawn.
MAX_NINES = 6.0


def nines(q):
    """The position of quantile q on a nines axis."""
    return MAX_NINES if q >= 1.0 else min(-math.log10(1.0 - q), MAX_NINES - 0.5)


def nines_label(q):
    if q >= 1.0:
        return "max"
    return "p" + ("%.5f" % (100 * q)).rstrip("0").rstrip(".")


def si(v):
    """A short label for a positive number: 1.5k, 20M, 3G."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return ("%.3g" % (v / div)) + suffix
    return "%.3g" % v


def _ticks(lo, hi, log):
    """Tick values between lo and hi."""
    if log:
        a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        ticks = []
        for e in range(a, b + 1):
            for m in (1, 2, 5) if b - a <= 3 else (1,):
                t = m * 10 ** e
                if lo <= t <= hi:
                    ticks.append(t)
        return ticks or [lo, hi]
    step = 10 ** math.floor(math.log10((hi - lo) or 1))
    while (hi - lo) / step > 8:
        step *= 2
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def chart(title, series, x_label, y_label, x_scale="linear", y_scale="linear"):
    """An SVG document drawing `series` ({name: [(x, y), ...]}).

    x_scale: "linear", "log" or "nines" (x is a quantile); y_scale:
    "linear" or "log". Points with y <= 0 are left out of a log axis."""
    pts = {
        n: sorted((x, y) for x, y in p if y > 0 or y_scale != "log")
        for n, p in series.items()
    }
    pts = {n: p for n, p in pts.items() if p}
    xs = [x for p in pts.values() for x, _ in p]
    ys = [y for p in pts.values() for _, y in p]
    if not xs:
        return None
    fx = {"linear": lambda x: x, "log": math.log10, "nines": nines}[x_scale]
    fy = math.log10 if y_scale == "log" else (lambda y: y)
    x0, x1 = fx(min(xs)), fx(max(xs))
    if y_scale == "log":
        y0, y1 = math.log10(min(ys) / 1.3), math.log10(max(ys) * 1.3)
    else:
        y0, y1 = 0.0, max(ys) * 1.1
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        y1 = y0 + 1
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x):
        return LEFT + (fx(x) - x0) / (x1 - x0) * pw

    def py(y):
        return TOP + ph - (fy(y) - y0) / (y1 - y0) * ph

    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
        'font-family="sans-serif" font-size="12">' % (WIDTH, HEIGHT),
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>'
        % (LEFT, escape(title)),
    ]
    # Axes, grid and ticks.
    if x_scale == "nines":
        xticks = sorted(set(x for x in xs))
        xlabel = nines_label
    elif x_scale == "log":
        xticks = sorted(set(xs))
        xlabel = lambda v: "%d" % v if v == int(v) else si(v)  # sizes: 1024, 4096
    else:
        xticks = sorted(set(xs)) if len(set(xs)) <= 12 else _ticks(min(xs), max(xs), False)
        xlabel = si
    for t in xticks:
        x = px(t)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (x, TOP, x, TOP + ph))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x, TOP + ph + 16, escape(xlabel(t))))
    lo = 10 ** y0 if y_scale == "log" else y0
    hi = 10 ** y1 if y_scale == "log" else y1
    for t in _ticks(lo, hi, y_scale == "log"):
        y = py(t)
        if TOP - 1 <= y <= TOP + ph + 1:
            out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (LEFT, y, LEFT + pw, y))
            out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (LEFT - 6, y + 4, si(t)))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>' % (LEFT, TOP, pw, ph))
    out.append('<text x="%d" y="%d" text-anchor="middle">%s</text>' % (LEFT + pw / 2, HEIGHT - 14, escape(x_label)))
    out.append(
        '<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)">%s</text>'
        % (TOP + ph / 2, TOP + ph / 2, escape(y_label))
    )
    # Series and legend.
    for i, (name, p) in enumerate(pts.items()):
        c = COLOURS[i % len(COLOURS)]
        path = " ".join("%.1f,%.1f" % (px(x), py(y)) for x, y in p)
        out.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>' % (path, c))
        for x, y in p:
            out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (px(x), py(y), c))
        ly = TOP + 8 + 18 * i
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>' % (LEFT + pw + 12, ly, LEFT + pw + 32, ly, c))
        out.append('<text x="%d" y="%d">%s</text>' % (LEFT + pw + 38, ly + 4, escape(name)))
    out.append("</svg>")
    return "\n".join(out) + "\n"
