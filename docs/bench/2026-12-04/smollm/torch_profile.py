# PyTorch's side of one smollm-135m / distilgpt2 LoRA step (same workload as scripts/bench_torch.py) under torch.profiler:
# self CPU time by op, op counts. .venv-interop/bin/python docs/bench/2026-12-04/smollm/torch_profile.py smollm-135m
import sys, time, torch
sys.path.insert(0, 'scripts')
from bench_torch import PRESETS
from peft import LoraConfig, get_peft_model
torch.set_num_threads(2); torch.manual_seed(0)
name = sys.argv[1] if len(sys.argv) > 1 else 'smollm-135m'
model = get_peft_model(PRESETS[name](), LoraConfig(r=8, lora_dropout=0.0)); model.train()
V = model.config.vocab_size
ids = torch.tensor([[(b * 7919 + t * 104729) % V for t in range(128)] for b in range(4)])
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
def step():
    loss = model(input_ids=ids, labels=ids).loss; loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0); opt.step(); opt.zero_grad()
print('attn_implementation', getattr(model.config, '_attn_implementation', '?'))
for _ in range(2): step()
ts = []
for _ in range(3):
    c0 = time.process_time(); t0 = time.perf_counter(); step(); ts.append((time.perf_counter() - t0, time.process_time() - c0))
print(name, 'step wall / CPU s:', ' '.join(f'{w:.2f}/{c:.2f}' for w, c in ts))
from torch.profiler import profile, ProfilerActivity
with profile(activities=[ProfilerActivity.CPU]) as prof: step()
ev = prof.key_averages()
tot = sum(e.self_cpu_time_total for e in ev); n = sum(e.count for e in ev if e.key.startswith('aten::'))
print(f'self CPU total {tot/1e3:.0f} ms, aten op calls {n}')
print(ev.table(sort_by='self_cpu_time_total', row_limit=30))
