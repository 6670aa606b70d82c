"""Upstream-equivalent embedding baseline for `dnabert2 embed` (issue 12's comparison).

The recipe of the upstream README, one sequence at a time:

    inputs = tokenizer(dna, return_tensors="pt")["input_ids"]
    hidden_states = model(inputs)[0]            # [1, sequence_length, 768]
    embedding_mean = torch.mean(hidden_states[0], dim=0)

with HF `tokenizers` and this directory's PyTorch DNABERT-2 encoder (checked against the
upstream fixtures by `bench.py --check-fixtures`), loading the same model directory
(`config.json` + `model.safetensors`). Prints one JSON line: sequences, bp, seconds (tokenise
+ forward + pooling, model load excluded), sequences/s, bp/s, peak RSS.

    python3 benches/torch_reference/embed.py --model DIR --input seqs.fa --threads 2 [--output emb.npy]
"""
import argparse
import json
import pathlib
import resource
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import dnabert2_ref as ref  # noqa: E402


def read_fasta(path):
    seqs, cur = [], []
    for line in open(path):
        line = line.strip()
        if line.startswith(">"):
            if cur:
                seqs.append("".join(cur))
            cur = []
        elif line:
            cur.append(line)
    if cur:
        seqs.append("".join(cur))
    return seqs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tokenizer", default=None, help="tokenizer.json (default: DIR's, else the repo's copy)")
    p.add_argument("--output", default=None, help="optional .npy of the embeddings")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    from tokenizers import Tokenizer

    model_dir = pathlib.Path(a.model)
    tok_path = a.tokenizer or (model_dir / "tokenizer.json")
    if not pathlib.Path(tok_path).is_file():
        tok_path = pathlib.Path(__file__).resolve().parents[2] / "crates/dna-bpe/tests/data/tokenizer.json"
    tok = Tokenizer.from_file(str(tok_path))
    cfg = json.load(open(model_dir / "config.json"))
    model = ref.DnaBert2(cfg).eval()
    model.load_hf(ref.read_safetensors(model_dir / "model.safetensors"))
    seqs = read_fasta(a.input)
    out = []
    t0 = time.perf_counter()
    with torch.inference_mode():
        for s in seqs:
            ids = torch.tensor([tok.encode(s).ids])
            hidden = model.encode(ids, torch.ones_like(ids))
            out.append(torch.mean(hidden[0], dim=0))
    secs = time.perf_counter() - t0
    if a.output:
        import numpy as np
        np.save(a.output, torch.stack(out).numpy())
    bp = sum(len(s) for s in seqs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"side": "upstream recipe (PyTorch + HF tokenizers)", "sequences": len(seqs), "bp": bp,
                      "seconds": round(secs, 3), "seq_per_s": round(len(seqs) / secs, 2),
                      "bp_per_s": round(bp / secs, 1), "peak_rss_bytes": peak}))


if __name__ == "__main__":
    main()
