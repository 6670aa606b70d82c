#!/usr/bin/env python3
"""Learning-curve table and plot of issue 15 from `cargo xtask gue --train-fraction` runs.

    python3 docs/bench/learning_curves.py runs/curves docs/img/learning-curves.svg

Reads every `OUT/runs/<label>[_trainF]/<task>/seed<N>/test_metrics.json` under the `gue` output
dir (each run's own record; several `gue` processes sharing one OUT race on results.jsonl),
or a results.jsonl file.

Groups the rows by init (the `model` label before `@train`), task and training fraction;
prints a Markdown table of test MCC x100 (mean +- sd over seeds) and, for every pretrained
init, the difference to `scratch` with Welch's t-test p-value (two-sided); writes an SVG plot
(MCC vs training fraction, one panel per task, one line per init). Standard library only.
"""

import json
import math
import statistics
import sys
from collections import defaultdict


def betacf(a, b, x):
    """Continued fraction of the regularised incomplete beta (Numerical Recipes)."""
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > 1e-30 else 1e-30)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > 1e-30 else 1e-30)
        c = 1 + aa / c if abs(c) > 1e-30 else 1e30
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > 1e-30 else 1e-30)
        c = 1 + aa / c if abs(c) > 1e-30 else 1e30
        de = d * c
        h *= de
        if abs(de - 1) < 1e-12:
            break
    return h


def betainc(a, b, x):
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(lbeta + a * math.log(x) + b * math.log(1 - x))
    if x < (a + 1) / (a + b + 2):
        return front * betacf(a, b, x) / a
    return 1 - front * betacf(b, a, 1 - x) / b


def welch(x, y):
    """Two-sided Welch t-test p-value of mean(x) != mean(y)."""
    nx, ny = len(x), len(y)
    vx, vy = statistics.variance(x), statistics.variance(y)
    se2 = vx / nx + vy / ny
    if se2 == 0:
        return 0.0 if statistics.mean(x) != statistics.mean(y) else 1.0
    t = (statistics.mean(x) - statistics.mean(y)) / math.sqrt(se2)
    df = se2**2 / ((vx / nx) ** 2 / (nx - 1) + (vy / ny) ** 2 / (ny - 1))
    return betainc(df / 2, 0.5, df / (df + t * t))


def load_dirs(root):
    import os
    runs = defaultdict(list)
    base = os.path.join(root, "runs")
    for label in sorted(os.listdir(base)):
        init = label.split("_train")[0]
        for dirpath, _, files in os.walk(os.path.join(base, label)):
            if "test_metrics.json" not in files:
                continue
            m = json.load(open(os.path.join(dirpath, "test_metrics.json")))
            rel = os.path.relpath(dirpath, os.path.join(base, label)).split(os.sep)
            task = "/".join(rel[:-1])
            runs[(init, task, m.get("train_fraction", 1.0))].append(100 * m["mcc"])
    return runs


def load(path):
    import os
    if os.path.isdir(path):
        return load_dirs(path)
    runs = defaultdict(list)  # (init, task, fraction) -> [mcc x100]
    seen = set()
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        init = r["model"].split("@")[0]
        frac = r.get("extra", {}).get("train_fraction", 1.0)
        key = (init, r["task"], frac, r["seed"])
        if key in seen:
            continue
        seen.add(key)
        runs[(init, r["task"], frac)].append(100 * r["mcc"])
    return runs


def svg(runs, inits, tasks, fracs, out):
    colours = {"scratch": "#888888", "pt60": "#1f77b4", "dapt": "#d62728"}
    w, h, pad = 300, 240, 45
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * len(tasks)}" height="{h + 40}" font-family="sans-serif" font-size="11">']
    lx = lambda f: pad + (math.log10(f) - math.log10(min(fracs))) / (math.log10(max(fracs)) - math.log10(min(fracs))) * (w - pad - 15)
    for ti, task in enumerate(tasks):
        ox = ti * w
        vals = [v for (i, t, f), vs in runs.items() if t == task for v in vs]
        lo, hi = math.floor(min(vals) / 10) * 10, math.ceil(max(vals) / 10) * 10
        ly = lambda v: 20 + (hi - v) / (hi - lo) * (h - 50)
        parts.append(f'<text x="{ox + w / 2}" y="14" text-anchor="middle" font-weight="bold">{task}</text>')
        parts.append(f'<line x1="{ox + pad}" y1="{ly(lo)}" x2="{ox + w - 15}" y2="{ly(lo)}" stroke="black"/>')
        parts.append(f'<line x1="{ox + pad}" y1="{ly(lo)}" x2="{ox + pad}" y2="{ly(hi)}" stroke="black"/>')
        for v in range(int(lo), int(hi) + 1, 10):
            parts.append(f'<text x="{ox + pad - 4}" y="{ly(v) + 4}" text-anchor="end">{v}</text>')
        for f in fracs:
            parts.append(f'<text x="{ox + lx(f)}" y="{ly(lo) + 14}" text-anchor="middle">{f:g}</text>')
        parts.append(f'<text x="{ox + w / 2}" y="{h - 2}" text-anchor="middle">training fraction (log)</text>')
        parts.append(f'<text x="{ox + 10}" y="{(ly(lo) + ly(hi)) / 2}" transform="rotate(-90 {ox + 10} {(ly(lo) + ly(hi)) / 2})" text-anchor="middle">test MCC x100</text>')
        for init in inits:
            pts = []
            for f in fracs:
                vs = runs.get((init, task, f))
                if not vs:
                    continue
                m = statistics.mean(vs)
                sd = statistics.stdev(vs) if len(vs) > 1 else 0
                x = ox + lx(f)
                pts.append((x, ly(m)))
                c = colours.get(init, "#2ca02c")
                parts.append(f'<line x1="{x}" y1="{ly(m - sd)}" x2="{x}" y2="{ly(m + sd)}" stroke="{c}"/>')
                parts.append(f'<circle cx="{x}" cy="{ly(m)}" r="3" fill="{c}"/>')
            if pts:
                d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                parts.append(f'<polyline points="{d}" fill="none" stroke="{colours.get(init, "#2ca02c")}" stroke-width="1.5"/>')
    for k, init in enumerate(inits):
        c = colours.get(init, "#2ca02c")
        parts.append(f'<rect x="{pad + k * 110}" y="{h + 18}" width="12" height="3" fill="{c}"/><text x="{pad + k * 110 + 16}" y="{h + 24}">{init}</text>')
    parts.append("</svg>")
    open(out, "w").write("\n".join(parts) + "\n")


def main():
    runs = load(sys.argv[1])
    order = ["scratch", "pt60", "dapt"]
    inits = [i for i in order if any(k[0] == i for k in runs)] + sorted({k[0] for k in runs} - set(order))
    tasks = sorted({k[1] for k in runs})
    fracs = sorted({k[2] for k in runs})
    print("| task | fraction | " + " | ".join(inits) + " | " + " | ".join(f"{i} - scratch (p)" for i in inits if i != "scratch") + " |")
    print("|---|---|" + "---|" * (2 * len(inits) - 1))
    for task in tasks:
        for f in fracs:
            cells, diffs = [], []
            base = runs.get(("scratch", task, f))
            for init in inits:
                vs = runs.get((init, task, f))
                cells.append(f"{statistics.mean(vs):.2f} +- {statistics.stdev(vs):.2f} (n={len(vs)})" if vs and len(vs) > 1 else "-")
                if init != "scratch":
                    if vs and base and len(vs) > 1 and len(base) > 1:
                        diffs.append(f"{statistics.mean(vs) - statistics.mean(base):+.2f} ({welch(vs, base):.2f})")
                    else:
                        diffs.append("-")
            print(f"| {task} | {f:g} | " + " | ".join(cells) + " | " + " | ".join(diffs) + " |")
    if len(sys.argv) > 2:
        svg(runs, inits, tasks, fracs, sys.argv[2])


if __name__ == "__main__":
    main()
