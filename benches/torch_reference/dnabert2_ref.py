"""A PyTorch DNABERT-2 encoder written from this repo's model description (docs/ARCHITECTURE.md,
crates/dnabert2-model), used as the speed and memory reference in `cargo xtask bench cpu` and
the GPU benches. It is not upstream's code; it computes what upstream's PyTorch path computes,
the way upstream runs it:

- tokens are un-padded to [nnz, D] for every per-token op (embeddings, Wqkv, dense, GEGLU, wo,
  LayerNorms), and padded back to [B, S, 3, H, d] only for attention, as upstream's
  `bert_padding` does on its PyTorch attention path;
- fused `Wqkv`, symmetric ALiBi `-slope_h * |i - j|` plus the key mask `(1 - mask) * -10000`
  as one [B, H, S, S] float bias, post-LN, GEGLU with exact GELU on the first half;
- the MLM head (dense, exact GELU, LayerNorm, decoder tied to the word embeddings) runs only at
  labelled positions when labels are given, as upstream's `BertForMaskedLM` does.

`check_fixtures(dir)` compares it with the golden outputs of the upstream model
(crates/dnabert2-model/tests/fixtures) and returns the max abs errors.

Attention implementations (`attn=`): "matmul" (q k^T + bias, softmax, @ v: upstream's PyTorch
path), "sdpa" (`F.scaled_dot_product_attention` with the bias as a float mask: what a user's
PyTorch port runs) and "flash" (`scaled_dot_product_attention` without any bias: the speed
ceiling of the attention itself, not the DNABERT-2 function).
"""

import json
import math
import struct

import torch
import torch.nn.functional as F
from torch import nn


def alibi_slopes(n):
    def pow2(n):
        start = 2.0 ** (-8.0 / n)
        return [start ** (k + 1) for k in range(n)]

    if n & (n - 1) == 0:
        return pow2(n)
    c = 1 << (n.bit_length() - 1)
    return pow2(c) + pow2(2 * c)[0::2][: n - c]


def alibi_bias(mask, n_heads, dtype):
    """[B, H, S, S] additive bias: ALiBi plus the key mask (upstream builds the same tensor)."""
    b, s = mask.shape
    pos = torch.arange(s, device=mask.device)
    dist = (pos[:, None] - pos[None, :]).abs().to(torch.float32)
    slopes = torch.tensor(alibi_slopes(n_heads), device=mask.device, dtype=torch.float32)
    alibi = -slopes[:, None, None] * dist[None]
    key = (1.0 - mask.to(torch.float32)) * -10000.0
    return (alibi[None] + key[:, None, None, :]).to(dtype)


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, i = cfg["hidden_size"], cfg["intermediate_size"]
        eps = cfg["layer_norm_eps"]
        self.heads = cfg["num_attention_heads"]
        self.Wqkv = nn.Linear(d, 3 * d)
        self.dense = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d, eps=eps)
        self.gated_layers = nn.Linear(d, 2 * i, bias=False)
        self.wo = nn.Linear(i, d)
        self.ln2 = nn.LayerNorm(d, eps=eps)
        self.drop = nn.Dropout(cfg["hidden_dropout_prob"])
        self.inter = i

    def forward(self, x, idx, b, s, bias, attn):
        # x: [nnz, D] (un-padded tokens); idx: their flat positions in [B * S].
        d_model = x.shape[-1]
        h = self.heads
        d = d_model // h
        qkv = self.Wqkv(x)
        padded = qkv.new_zeros(b * s, 3 * d_model)
        padded[idx] = qkv
        qkv = padded.view(b, s, 3, h, d)
        q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
        if attn == "matmul":
            scores = q @ k.transpose(-1, -2) / math.sqrt(d) + bias
            ctx = torch.softmax(scores, dim=-1) @ v
        elif attn == "sdpa":
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        elif attn == "flash":
            ctx = F.scaled_dot_product_attention(q, k, v)
        else:
            raise ValueError(f"unknown attention {attn!r}")
        ctx = ctx.transpose(1, 2).reshape(b * s, d_model)[idx]
        x = self.ln1(self.drop(self.dense(ctx)) + x)
        g = self.gated_layers(x)
        y = F.gelu(g[:, : self.inter]) * g[:, self.inter :]
        return self.ln2(self.drop(self.wo(y)) + x)


class DnaBert2(nn.Module):
    """BertForMaskedLM: encoder plus the tied MLM head."""

    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        eps = cfg["layer_norm_eps"]
        self.cfg = cfg
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], d, padding_idx=cfg.get("pad_token_id", 0))
        self.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], d)
        self.emb_ln = nn.LayerNorm(d, eps=eps)
        self.drop = nn.Dropout(cfg["hidden_dropout_prob"])
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.head_dense = nn.Linear(d, d)
        self.head_ln = nn.LayerNorm(d, eps=eps)
        self.decoder_bias = nn.Parameter(torch.zeros(cfg["vocab_size"]))
        std = cfg.get("initializer_range", 0.02)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def encode(self, ids, mask, attn="matmul"):
        b, s = ids.shape
        flat = mask.reshape(-1).bool()
        idx = flat.nonzero().squeeze(1)
        ids_u = ids.reshape(-1)[idx]
        x = self.word_embeddings(ids_u) + self.token_type_embeddings(torch.zeros_like(ids_u))
        x = self.drop(self.emb_ln(x))
        dtype = x.dtype if not torch.is_autocast_enabled() else torch.get_autocast_dtype(x.device.type)
        bias = None if attn == "flash" else alibi_bias(mask, self.cfg["num_attention_heads"], dtype)
        for layer in self.layers:
            x = layer(x, idx, b, s, bias, attn)
        out = x.new_zeros(b * s, x.shape[-1])
        out[idx] = x
        return out.view(b, s, -1)

    def mlm_head(self, h):
        t = self.head_ln(F.gelu(self.head_dense(h)))
        return t @ self.word_embeddings.weight.t() + self.decoder_bias

    def mlm_loss(self, ids, mask, labels, attn="matmul"):
        """Cross-entropy over labelled positions (labels > 0, as upstream), head at those only."""
        h = self.encode(ids, mask, attn)
        sel = labels > 0
        logits = self.mlm_head(h[sel])
        return F.cross_entropy(logits.float(), labels[sel]), logits

    def load_hf(self, tensors):
        """Loads HF-named DNABERT-2 weights (decoder tied to the word embeddings)."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                p.copy_(tensors[hf_key(name)])


_OWN_KEYS = {
    "word_embeddings.weight": "bert.embeddings.word_embeddings.weight",
    "token_type_embeddings.weight": "bert.embeddings.token_type_embeddings.weight",
    "emb_ln.weight": "bert.embeddings.LayerNorm.weight",
    "emb_ln.bias": "bert.embeddings.LayerNorm.bias",
    "head_dense.weight": "cls.predictions.transform.dense.weight",
    "head_dense.bias": "cls.predictions.transform.dense.bias",
    "head_ln.weight": "cls.predictions.transform.LayerNorm.weight",
    "head_ln.bias": "cls.predictions.transform.LayerNorm.bias",
    "decoder_bias": "cls.predictions.decoder.bias",
}
_LAYER_KEYS = {
    "Wqkv": "attention.self.Wqkv",
    "dense": "attention.output.dense",
    "ln1": "attention.output.LayerNorm",
    "gated_layers": "mlp.gated_layers",
    "wo": "mlp.wo",
    "ln2": "mlp.layernorm",
}


def hf_key(name):
    """The HF checkpoint key of one of this module's parameter names."""
    if name.startswith("layers."):
        _, n, mod, leaf = name.split(".")
        return f"bert.encoder.layer.{n}.{_LAYER_KEYS[mod]}.{leaf}"
    return _OWN_KEYS[name]


def read_safetensors(path):
    """Minimal safetensors reader (no numpy / safetensors package needed)."""
    dtypes = {"F32": torch.float32, "I64": torch.int64, "F16": torch.float16, "BF16": torch.bfloat16}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        a, b = info["data_offsets"]
        buf = bytearray(data[a:b])
        t = torch.frombuffer(buf, dtype=dtypes[info["dtype"]]) if b > a else torch.zeros(0, dtype=dtypes[info["dtype"]])
        out[key] = t.reshape(info["shape"])
    return out


def check_fixtures(fixtures):
    """Max abs errors of this reference against the upstream golden outputs in `fixtures`
    (tiny12 / tiny8 forward, the tiny8 MLM train step's loss and every gradient)."""
    inputs = read_safetensors(f"{fixtures}/inputs.safetensors")
    errs = {}
    for name in ("tiny12", "tiny8"):
        cfg = json.load(open(f"{fixtures}/{name}/config.json"))
        model = DnaBert2(cfg).eval()
        model.load_hf(read_safetensors(f"{fixtures}/{name}/model.safetensors"))
        want = read_safetensors(f"{fixtures}/{name}/outputs.safetensors")
        with torch.no_grad():
            for attn in ("matmul", "sdpa"):
                h = model.encode(inputs["input_ids"], inputs["attention_mask"], attn)
                errs[f"{name}.last_hidden_state.{attn}"] = (h - want["last_hidden_state"]).abs().max().item()
            logits = model.mlm_head(h)
            errs[f"{name}.mlm_logits"] = (logits - want["mlm_logits"]).abs().max().item()
            hl = model.encode(inputs["long_input_ids"], inputs["long_attention_mask"])
            errs[f"{name}.long_last_hidden_state"] = (hl - want["long_last_hidden_state"]).abs().max().item()
    step = read_safetensors(f"{fixtures}/tiny8/train_step.safetensors")
    cfg = json.load(open(f"{fixtures}/tiny8/config.json"))
    cfg["hidden_dropout_prob"] = 0.0
    model = DnaBert2(cfg).train()
    model.load_hf(read_safetensors(f"{fixtures}/tiny8/model.safetensors"))
    ids, labels = step["input_ids"], step["labels"]
    loss, _ = model.mlm_loss(ids, (ids != 3).long(), labels)
    loss.backward()
    errs["tiny8.train_step.loss"] = abs(loss.item() - step["loss"].item())
    worst = 0.0
    for n, p in model.named_parameters():
        worst = max(worst, (p.grad - step[f"grad.{hf_key(n)}"]).abs().max().item())
    errs["tiny8.train_step.grads"] = worst
    return errs
