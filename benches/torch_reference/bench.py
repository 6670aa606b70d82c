#!/usr/bin/env python3
"""Times the PyTorch reference encoder (dnabert2_ref.py) on one case and prints one JSON line.

Run by `cargo xtask bench cpu` in alternation with our own cases (one process per case, so
the peak RSS is the case's own). Standalone:

    python3 benches/torch_reference/bench.py --case forward --batch 8 --seq 128 --threads 2
    python3 benches/torch_reference/bench.py --check-fixtures crates/dnabert2-model/tests/fixtures

Cases: `forward` (eval + no_grad, as upstream's model is used for inference) and `train`
(one MLM step: 15% of positions labelled, forward, loss at labelled positions, backward,
AdamW(0.9, 0.98, eps 1e-6, wd 1e-5) as in DNABERT-2 pretraining). `--device cuda` and
`--dtype bf16` (autocast) are for the GPU bench; peak GPU memory is reported there.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import dnabert2_ref as ref  # noqa: E402

CONFIG_117M = {
    "vocab_size": 4096,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "hidden_dropout_prob": 0.1,
    "initializer_range": 0.02,
    "pad_token_id": 0,
}
# The `small` preset of crates/dnabert2-model (BertConfig::preset("small")).
CONFIG_SMALL = dict(CONFIG_117M, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)


def peak_rss_bytes():
    """Whole-process peak resident set (VmHWM), in bytes."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", choices=["forward", "train", "sgemm"], default="forward")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3, help="timed iterations after the warm-up")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up iterations")
    p.add_argument("--config", default="117m", help="117m, small, or a config.json path")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    p.add_argument("--attn", choices=["matmul", "sdpa", "flash"], default="matmul")
    p.add_argument("--no-dropout", action="store_true", help="hidden dropout 0 (default: the config's)")
    p.add_argument("--check-fixtures", metavar="DIR", help="compare with the upstream fixtures and exit")
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    if a.check_fixtures:
        errs = ref.check_fixtures(a.check_fixtures)
        worst = max(errs.values())
        print(json.dumps({"fixtures": a.check_fixtures, "max_abs_err": errs, "worst": worst}))
        sys.exit(0 if worst <= 1e-5 else 1)

    if a.config == "117m":
        cfg = dict(CONFIG_117M)
    elif a.config == "small":
        cfg = dict(CONFIG_SMALL)
    else:
        cfg = json.load(open(a.config))
    if a.no_dropout:
        cfg["hidden_dropout_prob"] = 0.0
    dev = torch.device(a.device)
    torch.manual_seed(0)
    model = ref.DnaBert2(cfg).to(dev)
    ids = torch.randint(5, cfg["vocab_size"], (a.batch, a.seq), device=dev)
    mask = torch.ones_like(ids)
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.dtype == "bf16")
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    flops = None
    if a.case == "sgemm":
        # --seq N: one N x N x N f32 matrix product, the machine's matmul ceiling.
        n = a.seq
        x = torch.rand(n, n, device=dev) * 2 - 1
        flops = 2.0 * n**3

        def step():
            (x @ x.t())[0, 0].item()

    elif a.case == "forward":
        model.eval()

        def step():
            with torch.no_grad(), autocast:
                model.encode(ids, mask, a.attn).float().sum().item()

    else:
        model.train()
        labels = torch.where(torch.rand(ids.shape, device=dev) < 0.15, ids, torch.full_like(ids, -100))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=1e-5)

        def step():
            opt.zero_grad(set_to_none=True)
            with autocast:
                loss, _ = model.mlm_loss(ids, mask, labels, a.attn)
            loss.backward()
            opt.step()
            loss.item()

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(a.warmup):
        step()
    sync()
    secs = []
    for _ in range(max(1, a.runs)):
        t = time.perf_counter()
        step()
        sync()
        secs.append(time.perf_counter() - t)
    med = statistics.median(secs)
    out = {
        "impl": f"torch-{a.attn}",
        "case": a.case,
        "batch": a.batch,
        "seq": a.seq,
        "threads": a.threads,
        "device": a.device,
        "dtype": a.dtype,
        "secs": secs,
        "secs_median": med,
        "tokens_per_s": a.batch * a.seq / med,
        "peak_rss_bytes": peak_rss_bytes(),
        "torch": torch.__version__,
    }
    if flops is not None:
        out["gflops"] = flops / med / 1e9
    if dev.type == "cuda":
        out["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
