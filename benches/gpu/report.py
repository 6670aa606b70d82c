#!/usr/bin/env python3
"""Summarises benches/gpu/run.sh's results.jsonl into results.json and results.md.

    python3 benches/gpu/report.py OUT/results.jsonl OUT

MFU = model FLOPs / (median step time x 989 TFLOP/s, the dense bf16 peak of an H100/H200
SXM), with the FLOP count of `crates/dnabert2-model/benches/cases/mod.rs::encoder_flops`
(matmuls and attention, 2 per MAC; a training step 3x the forward) for the 117M config.
"""

import json
import sys

PEAK = 989e12
IMPLS = ["ours-fused", "ours-burn-op", "torch-sdpa", "torch-flash"]
GIB = 1024**3


def encoder_flops(b, s, d=768, i=3072, layers=12):
    per_token = 3 * d * d + d * d + d * 2 * i + i * d + 2 * s * d
    return 2.0 * layers * b * s * per_token


def main():
    log, out = sys.argv[1], sys.argv[2]
    rows = {}
    for line in open(log):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        tag = r.get("bench", r)
        key = (tag["kind"], tag["batch"], tag["seq"], tag["precision"])
        flops = encoder_flops(tag["batch"], tag["seq"]) * (3 if tag["kind"] == "train" else 1)
        entry = {"error": r["error"]} if "error" in r else {
            "tokens_per_s": r["tokens_per_s"],
            "secs": r["secs"],
            "secs_median": r["secs_median"],
            "gpu_bytes": r.get("gpu_reserved_bytes") or r.get("peak_gpu_bytes"),
            "gpu_bytes_kind": "cubecl pools reserved" if "gpu_reserved_bytes" in r else "torch max allocated",
            "mfu": flops / (r["secs_median"] * PEAK),
        }
        rows.setdefault(key, {})[tag["impl"]] = entry
    gpu = ""
    try:
        gpu = open(f"{out}/gpu.txt").read().strip()
    except OSError:
        pass
    table = []
    for (kind, b, s, prec), impls in sorted(rows.items(), key=lambda kv: (kv[0][3], kv[0][0], kv[0][1] * kv[0][2], kv[0][1])):
        row = {"kind": kind, "batch": b, "seq": s, "precision": prec, "impls": impls}
        fused = impls.get("ours-fused", {}).get("tokens_per_s")
        for ref in ("torch-flash", "torch-sdpa"):
            t = impls.get(ref, {}).get("tokens_per_s")
            if fused and t:
                row[f"fused_over_{ref}"] = fused / t
        table.append(row)
    json.dump({"gpu": gpu, "peak_flops": PEAK, "rows": table}, open(f"{out}/results.json", "w"), indent=1)

    def cell(e):
        if e is None:
            return "-"
        if "error" in e:
            msg = e["error"]
            short = "OOM" if "out of memory" in msg.lower() or "OutOfMemory" in msg else msg[:40]
            return f"fail ({short})"
        mem = f"{e['gpu_bytes'] / GIB:.2f} GiB" if e.get("gpu_bytes") else "?"
        return f"{e['tokens_per_s']:,.0f} tok/s, {mem}, MFU {100 * e['mfu']:.1f}%"

    md = [f"GPU: {gpu or 'unknown'}", "",
          "| case | precision | " + " | ".join(IMPLS) + " | fused / flash | fused / sdpa |",
          "|---|---|" + "---|" * (len(IMPLS) + 2)]
    for row in table:
        ratio = lambda k: f"{row[k]:.2f}x" if k in row else "-"
        md.append(f"| {row['kind']} {row['batch']}x{row['seq']} | {row['precision']} | "
                  + " | ".join(cell(row["impls"].get(i)) for i in IMPLS)
                  + f" | {ratio('fused_over_torch-flash')} | {ratio('fused_over_torch-sdpa')} |")
    md += ["", "Memory: ours = device memory cubecl's pools hold after the runs (their high-water "
           "mark); torch = `torch.cuda.max_memory_allocated`. MFU against 989 TFLOP/s (dense bf16 "
           "peak, H100/H200 SXM) in both precisions."]
    open(f"{out}/results.md", "w").write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
