"""Golden values for LoRA+ (issue 18): PEFT's create_loraplus_optimizer over torch.optim.AdamW on a
tiny PEFT model (two LoRA-adapted Linear layers) with fixed A, B and gradients, clip_grad_norm_ and
LoRA Lab's warm-up + cosine schedule as a LambdaLR (which scales every group's own lr), for 5 steps.
The parameter groups PEFT built (names, lr, weight_decay) are written too, so the test can check
that LoRA Lab puts each tensor in the same group.

Run: .venv-interop/bin/python scripts/gen_loraplus_golden.py  → test/fixtures/optim/loraplus.json
"""
import json
import math
import pathlib

import peft
import torch
from peft import LoraConfig, get_peft_model
from peft.optimizers import create_loraplus_optimizer

LR, RATIO, WD = 0.004, 16.0, 0.1
BETAS, EPS = (0.9, 0.98), 1e-6
WARMUP, TOTAL, MAX_NORM = 2, 5, 1.0


def lab_lr_factor(step, warmup, total):
    """src/core/train/schedule.ts, cosine, as a multiple of the peak rate (0-based step)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, max(0.0, (step - warmup) / max(1, total - warmup)))
    return 0.5 * (1 + math.cos(math.pi * progress))


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(4, 3)
        self.l2 = torch.nn.Linear(3, 5)


torch.manual_seed(0)
model = get_peft_model(Tiny(), LoraConfig(r=2, lora_alpha=4, target_modules=["l1", "l2"]))
named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
with torch.no_grad():
    for _, p in named:  # B nonzero too, so weight decay and the ratio both show on B
        p.copy_(torch.randn_like(p) * 0.5)
init = {n: p.detach().clone() for n, p in named}
grads = [{n: torch.randn_like(p) for n, p in named} for _ in range(TOTAL)]

opt = create_loraplus_optimizer(model, torch.optim.AdamW, lr=LR, loraplus_lr_ratio=RATIO, loraplus_weight_decay=WD, betas=BETAS, eps=EPS)
names_of = {id(p): n for n, p in named}
groups = [
    {"names": [names_of[id(p)] for p in g["params"]], "lr": g["lr"], "weight_decay": g["weight_decay"]}
    for g in opt.param_groups
]
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lab_lr_factor(s, WARMUP, TOTAL))

steps = []
for i in range(TOTAL):
    group_lrs = [g["lr"] for g in opt.param_groups]
    for n, p in named:
        p.grad = grads[i][n].clone()
    norm = float(torch.nn.utils.clip_grad_norm_([p for _, p in named], max_norm=MAX_NORM))
    opt.step()
    sched.step()
    steps.append({"groupLrs": group_lrs, "norm": norm, "after": {n: p.detach().flatten().tolist() for n, p in named}})

out = {
    "note": (
        f"torch {torch.__version__}, peft {peft.__version__}: create_loraplus_optimizer(model, torch.optim.AdamW, lr={LR}, "
        f"loraplus_lr_ratio={RATIO}, loraplus_weight_decay={WD}, betas={BETAS}, eps={EPS}); LambdaLR of LoRA Lab's cosine "
        f"schedule (warm-up {WARMUP}, total {TOTAL}); clip_grad_norm_(max_norm={MAX_NORM}) before each step"
    ),
    "lr": LR, "ratio": RATIO, "weightDecay": WD, "beta1": BETAS[0], "beta2": BETAS[1], "eps": EPS,
    "warmupSteps": WARMUP, "totalSteps": TOTAL, "maxGradNorm": MAX_NORM,
    "groups": groups,
    "params": [{"name": n, "shape": list(p.shape), "init": init[n].flatten().tolist()} for n, p in named],
    "grads": [{n: g[n].flatten().tolist() for n, _ in named} for g in grads],
    "steps": steps,
}
path = pathlib.Path(__file__).resolve().parent.parent / "test" / "fixtures" / "optim" / "loraplus.json"
path.write_text(json.dumps(out))
print("wrote", path)
