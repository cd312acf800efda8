# PyTorch's evaluation forward (the loss on the same batch under no_grad, as scripts/bench_torch.py's
# eval tokens/s) under torch.profiler: self CPU time by op, to set against opprofile.ts's native
# evaluation. .venv-interop/bin/python docs/bench/2026-12-04/fused/torch_eval_profile.py smollm-135m
import sys, time, torch
sys.path.insert(0, 'scripts')
from bench_torch import PRESETS
from peft import LoraConfig, get_peft_model
torch.set_num_threads(2); torch.manual_seed(0)
name = sys.argv[1] if len(sys.argv) > 1 else 'smollm-135m'
model = get_peft_model(PRESETS[name](), LoraConfig(r=8, lora_dropout=0.0)); model.eval()
V = model.config.vocab_size
ids = torch.tensor([[(b * 7919 + t * 104729) % V for t in range(128)] for b in range(4)])
def ev():
    with torch.no_grad():
        return model(input_ids=ids, labels=ids).loss.item()
print('attn_implementation', getattr(model.config, '_attn_implementation', '?'))
for _ in range(2): ev()
ts = []
for _ in range(5):
    t0 = time.perf_counter(); ev(); ts.append(time.perf_counter() - t0)
print(name, 'eval wall ms:', ' '.join(f'{1000*t:.0f}' for t in ts))
from torch.profiler import profile, ProfilerActivity
with profile(activities=[ProfilerActivity.CPU]) as prof: ev()
e = prof.key_averages()
tot = sum(x.self_cpu_time_total for x in e); n = sum(x.count for x in e if x.key.startswith('aten::'))
print(f'self CPU total {tot/1e3:.0f} ms, aten op calls {n}')
print(e.table(sort_by='self_cpu_time_total', row_limit=25))
