"""Reference for tests/optimizer_hf.rs: two Hugging Face Trainer optimizer steps on tiny8.

Parameters: the tiny8 fixture's MLM weights. Gradients: the fixture's train-step gradients,
scaled by 20 for the first step (the global-norm clip engages) and by 0.1 for the second
(below the clip).
Optimizer exactly as HF Trainer builds it: torch.optim.AdamW with two parameter groups
(weight decay 0.01, except biases and LayerNorm weights: 0), betas (0.9, 0.999), eps 1e-8,
clip_grad_norm_(all parameters, 1.0) before each step, linear schedule (warmup 0,
4 total steps) from lr 1e-3. Writes the parameters after both steps and the two
pre-clip norms to hf_adamw_tiny8.safetensors.

Run from this directory: python3 gen.py (needs torch and safetensors).
"""
import pathlib

import torch
from safetensors.torch import load_file, save_file

here = pathlib.Path(__file__).resolve().parent
fx = here.parents[3] / "dnabert2-model" / "tests" / "fixtures" / "tiny8"
weights = load_file(fx / "model.safetensors")
step = load_file(fx / "train_step.safetensors")
grads = {k[len("grad."):]: v for k, v in step.items() if k.startswith("grad.")}
assert len(grads) == 42, len(grads)

params = {k: torch.nn.Parameter(weights[k].clone().double().float()) for k in grads}
decay = [p for k, p in params.items() if "bias" not in k and "LayerNorm" not in k and "layernorm" not in k]
no_decay = [p for k, p in params.items() if not ("bias" not in k and "LayerNorm" not in k and "layernorm" not in k)]
opt = torch.optim.AdamW(
    [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
    lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
)
total = 4
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, (total - s) / total))
norms = []
for scale in (20.0, 0.1):
    for k, p in params.items():
        p.grad = grads[k].clone() * scale
    norms.append(float(torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)))
    opt.step()
    sched.step()
out = {f"after.{k}": p.detach().clone().contiguous() for k, p in params.items()}
out["grad_norms"] = torch.tensor(norms, dtype=torch.float64)
save_file(out, here / "hf_adamw_tiny8.safetensors")
print("norms", norms, "decayed", len(decay), "not decayed", len(no_decay))
