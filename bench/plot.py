"""Plots for `npm run bench`: reads one bench/results/e2e-*.json and writes,
beside it, <stem>-phases.png (phase breakdown: production log, ours, the
limits of this machine and the peer tools) and <stem>-scaling.png (the seed's
scaling table against what was measured). Run by the bench with the stack's
venv (matplotlib from scripts/bench-tools.mjs); usage: python plot.py FILE.json
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PHASES = [
    ("fetch_bundle", "fetch bundle", "#8da0cb"),
    ("unpack", "unpack", "#66c2a5"),
    ("object_puts", "object PUTs", "#fc8d62"),
    ("object_insert", "object insert", "#e78ac3"),
    ("object_refs", "refs", "#a6d854"),
    ("snapshot_insert", "snapshots", "#ffd92f"),
    ("commit_insert", "commits", "#e5c494"),
]


def phases(doc, out):
    med = doc["medians"]
    e2e = med["e2e"]
    lim = med["limits"]
    prod = doc["production"]
    bars = []  # (label, [(segment label, ms, colour)])
    bars.append(("production log\n(1 push)", [(lbl, prod["phases"][k], c) for k, lbl, c in PHASES]))
    ours = [(lbl, e2e["phases"][k], c) for k, lbl, c in PHASES]
    other = e2e["workflowMs"] - sum(v for _, v, _ in ours)
    ours.append(("orchestration and the rest", max(other, 0), "#b3b3b3"))
    bars.append(("ours, end to end\n(BundleIndex, 1 worker)", ours))
    copy = lim["rawCopy"]
    bars.append((
        "limits: raw PUT loop\n+ raw COPY",
        [
            ("object PUTs", lim["rawPutMs"], "#fc8d62"),
            ("object insert", copy["objectsMs"], "#e78ac3"),
            ("refs", copy["refsMs"], "#a6d854"),
            ("snapshots", copy["snapshotsMs"], "#ffd92f"),
            ("commits", copy["commitsMs"], "#e5c494"),
        ],
    ))
    lean = lim.get("rawPutLeanMs")
    if lean is not None:
        bars.append(("raw PUT loop,\nlean client", [("object PUTs", lean, "#fc8d62")]))
    for tool in ("s5cmd", "rclone"):
        v = lim.get(f"{tool}Ms")
        if v is not None and v == v:  # not NaN/null
            bars.append((f"{tool}\n(same objects)", [("object PUTs", v, "#fc8d62")]))
    fig, ax = plt.subplots(figsize=(12, 1.1 * len(bars) + 1.6))
    seen = set()
    for i, (label, segs) in enumerate(bars):
        left = 0.0
        for seg, ms, colour in segs:
            s = ms / 1000.0
            ax.barh(i, s, left=left, color=colour, edgecolor="white", label=None if seg in seen else seg)
            seen.add(seg)
            left += s
        ax.text(left, i, f"  {left:.2f} s", va="center", fontsize=9)
    ax.set_yticks(range(len(bars)))
    ax.set_yticklabels([b[0] for b in bars], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    d = doc["data"]
    ax.set_title(
        f"{doc['settings']['preset']}: {d['objects']:,} objects, {d['commits']:,} commits, "
        f"{d['bundleBytes'] / 1e6:.1f} MB — median of {doc['settings']['runs']} run(s), {doc['date'][:10]}",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.margins(x=0.15)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def scaling(doc, out):
    sc = doc["scaling"]
    rows = sc["rows"]
    n = len(rows)
    series = [
        ("serial: table", [r["tableSerialMs"] for r in rows], "#c6dbef"),
        ("serial: measured", [r["serialMs"] for r in rows], "#3182bd"),
        ("ours: table (100 slots)", [r["tableOursMs"] for r in rows], "#fdd0a2"),
        ("ours: measured", [r["oursMs"] for r in rows], "#e6550d"),
        ("ours: measured, no added latency", [r["oursNoLatencyMs"] for r in rows], "#a1d99b"),
    ]
    fig, ax = plt.subplots(figsize=(10, 5))
    w = 0.8 / len(series)
    for j, (label, ys, colour) in enumerate(series):
        xs = [i + (j - (len(series) - 1) / 2) * w for i in range(n)]
        ax.bar(xs, [y / 1000 for y in ys], width=w, color=colour, label=label)
        for x, y in zip(xs, ys):
            ax.text(x, y / 1000, f"{y / 1000:.3g}", ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(range(n))
    ax.set_xticklabels([f"{r['objects']:,} objects" for r in rows])
    ax.set_ylabel("seconds (log scale)")
    ax.set_title(
        f"S3 PUTs with {sc['latencyMs']} ms added per request (toxiproxy): the seed's table vs this machine "
        f"({sc['avgObjectBytes']:,} B objects, {doc['settings']['concurrency']} in flight)",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main():
    src = Path(sys.argv[1])
    doc = json.loads(src.read_text())
    stem = src.with_suffix("")
    phases(doc, f"{stem}-phases.png")
    written = [f"{stem}-phases.png"]
    if doc.get("scaling"):
        scaling(doc, f"{stem}-scaling.png")
        written.append(f"{stem}-scaling.png")
    for w in written:
        print(f"[bench] wrote {w}", file=sys.stderr)


if __name__ == "__main__":
    main()
