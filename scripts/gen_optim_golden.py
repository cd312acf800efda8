"""Golden values for LoRA Lab's AdamW and gradient clipping: torch.optim.AdamW and
torch.nn.utils.clip_grad_norm_ on fixed parameters and gradients.

Run: /work/pyref/bin/python scripts/gen_optim_golden.py  → test/fixtures/optim/adamw.json
"""
import json
import pathlib

import torch

torch.manual_seed(0)
p0 = torch.randn(3, 4)
q0 = torch.randn(5)
grads = [(torch.randn(3, 4), torch.randn(5)) for _ in range(4)]
cfg = dict(lr=0.01, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.1)
lrs = [0.01, 0.008, 0.005, 0.002]

p = p0.clone().requires_grad_(True)
q = q0.clone().requires_grad_(True)
opt = torch.optim.AdamW([p, q], **cfg)
after = []
norms = []
for (gp, gq), lr in zip(grads, lrs):
    for group in opt.param_groups:
        group["lr"] = lr
    p.grad = gp.clone()
    q.grad = gq.clone()
    norms.append(float(torch.nn.utils.clip_grad_norm_([p, q], max_norm=2.0)))
    opt.step()
    after.append([p.detach().flatten().tolist(), q.detach().flatten().tolist()])

out = {
    "note": f"torch {torch.__version__}: AdamW(betas=(0.9,0.98), eps=1e-6, weight_decay=0.1), lr per step {lrs}, clip_grad_norm_(max_norm=2.0) before each step",
    "p0": p0.flatten().tolist(), "q0": q0.tolist(),
    "grads": [[gp.flatten().tolist(), gq.tolist()] for gp, gq in grads],
    "lrs": lrs, "norms": norms, "after": after,
}
path = pathlib.Path(__file__).resolve().parent.parent / "test" / "fixtures" / "optim" / "adamw.json"
path.write_text(json.dumps(out))
print("wrote", path)
