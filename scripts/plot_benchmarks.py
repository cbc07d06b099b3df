#!/usr/bin/env python3
"""Draws docs/http-throughput.svg (requests/s versus concurrency, AmbHttp versus alloy's plain
Http<reqwest>) from the results of `cargo bench --bench http`. Plain SVG, standard library only.

    python3 scripts/plot_benchmarks.py [results.json] [out.svg]

Defaults: benches/results/run3/http.json (the run quoted in docs/benchmarks.md) and
docs/http-throughput.svg. Each point is the median over the rounds; the bar through it spans
the slowest to the fastest round.
"""

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benches/results/run3/http.json"
OUT = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs/http-throughput.svg"

SERIES = [
    ("plain", "alloy Http<reqwest>|(unsigned)", "#4c72b0", ""),
    ("amb_static", "AmbHttp|static keys", "#55a868", "6 3"),
    ("amb", "AmbHttp|temporary credentials|(1 KB session token)", "#c44e52", ""),
    ("amb_token", "AmbHttp|billing token|(nothing signed)", "#8172b2", "2 3"),
]
# Where each series' ratio label sits relative to its point.
LABEL_DY = {"amb_static": -8, "amb": 15, "amb_token": -20}

W, H = 800, 440
LEFT, RIGHT, TOP, BOTTOM = 78, 230, 48, 60


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_max(v):
    mag = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * mag >= v:
            return m * mag
    return 10 * mag


def main():
    data = json.loads(SRC.read_text())
    levels = data["levels"]
    conc = [lv["concurrency"] for lv in levels]
    series = [s for s in SERIES if all(s[0] in lv for lv in levels)]
    top = max(max(lv[key]["rps_rounds"]) for lv in levels for key, *_ in series)
    ymax = nice_max(top * 1.05)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    lo, hi = math.log2(min(conc)), math.log2(max(conc))

    def x(c):
        # A margin on both sides, wider on the right for the ratio labels.
        span = max(hi - lo, 1.0)
        return LEFT + (math.log2(c) - lo + 0.25 * span / 4) / (span * 1.22) * pw

    def y(v):
        return TOP + ph - v / ymax * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold">'
        "eth_blockNumber throughput on a loopback upstream (higher is better)</text>",
    ]
    # Grid and y axis.
    for i in range(6):
        v = ymax * i / 5
        yy = y(v)
        out.append(f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{LEFT + pw}" y2="{yy:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{LEFT - 8}" y="{yy + 4:.1f}" text-anchor="end">{v / 1000:.0f}k</text>')
    out.append(
        f'<text x="18" y="{TOP + ph / 2:.1f}" transform="rotate(-90 18 {TOP + ph / 2:.1f})" '
        'text-anchor="middle">requests/s</text>'
    )
    # X axis.
    out.append(f'<line x1="{LEFT}" y1="{TOP + ph}" x2="{LEFT + pw}" y2="{TOP + ph}" stroke="#333"/>')
    for c in conc:
        out.append(f'<line x1="{x(c):.1f}" y1="{TOP + ph}" x2="{x(c):.1f}" y2="{TOP + ph + 5}" stroke="#333"/>')
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + ph}" stroke="#333"/>')
    for c in conc:
        out.append(f'<text x="{x(c):.1f}" y="{TOP + ph + 18}" text-anchor="middle">{c}</text>')
    out.append(
        f'<text x="{LEFT + pw / 2:.1f}" y="{H - 18}" text-anchor="middle">'
        "concurrent requests (log scale)</text>"
    )
    # Series: median line, min–max bar per point.
    for key, _, color, dash in series:
        pts = [(x(lv["concurrency"]), y(lv[key]["rps_median"])) for lv in levels]
        path = " ".join(f"{'M' if i == 0 else 'L'}{px:.1f},{py:.1f}" for i, (px, py) in enumerate(pts))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"{dash_attr}/>')
        for lv, (px, py) in zip(levels, pts):
            r = lv[key]["rps_rounds"]
            out.append(
                f'<line x1="{px:.1f}" y1="{y(min(r)):.1f}" x2="{px:.1f}" y2="{y(max(r)):.1f}" '
                f'stroke="{color}" stroke-width="1.5"/>'
            )
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{color}"/>')
            if key != "plain":
                ratio = lv[key].get("ratio_rps_to_plain")
                if ratio is not None:
                    out.append(
                        f'<text x="{px + 7:.1f}" y="{py + LABEL_DY.get(key, -8):.1f}" '
                        f'fill="{color}" font-size="11">{ratio:.2f}×</text>'
                    )
    # Legend.
    lx, ly = LEFT + pw + 18, TOP + 10
    for i, (key, label, color, dash) in enumerate(series):
        yy = ly + i * 48
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{lx}" y1="{yy}" x2="{lx + 24}" y2="{yy}" stroke="{color}" stroke-width="2"{dash_attr}/>')
        for j, part in enumerate(label.split("|")):
            out.append(f'<text x="{lx + 30}" y="{yy + 4 + j * 14}">{esc(part)}</text>')
    note_y = ly + len(series) * 48 + 10
    m = data.get("machine", {})
    notes = [
        "labels: ratio to plain (median",
        "of per-round ratios); bars:",
        "slowest–fastest round",
        f"{m.get('nproc', '?')} vCPU, {data.get('rounds', '?')} rounds × {data.get('secs_per_round', '?')} s",
        esc(m.get("rustc", "")),
    ]
    for j, n in enumerate(notes):
        out.append(f'<text x="{lx}" y="{note_y + j * 14}" fill="#555" font-size="11">{n}</text>')
    out.append("</svg>")
    OUT.write_text("\n".join(out) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
