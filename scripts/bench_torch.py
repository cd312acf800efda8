"""PyTorch + PEFT reference for `npm run bench`: the same LoRA training workload on the same CPU.

Builds each preset's architecture with random weights (transformers' own init; values do not
matter for speed), wraps it with peft.get_peft_model(LoraConfig(r=8, lora_alpha=16,
lora_dropout=0)) on the architecture's default targets (PEFT's own mapping: c_attn for GPT-2,
q_proj/v_proj for Llama), and times AdamW steps on batch x seq-len random token ids with
labels = input_ids (HF's shifted next-token loss), exactly what LoRA Lab's bench times.

    .venv-interop/bin/python scripts/bench_torch.py --preset distilgpt2,gpt2,smollm-135m --threads 2

(the venv comes from `npm run test:interop`, or pip install -r scripts/requirements-ref.txt).
Prints a Markdown table, or JSON with --json.
"""

import argparse
import json
import platform
import statistics
import time

import torch
import transformers
import peft
from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

PRESETS = {
    "distilgpt2": lambda: GPT2LMHeadModel(GPT2Config(n_embd=768, n_head=12, n_layer=6, vocab_size=50257, n_positions=1024)),
    "gpt2": lambda: GPT2LMHeadModel(GPT2Config(n_embd=768, n_head=12, n_layer=12, vocab_size=50257, n_positions=1024)),
    "smollm-135m": lambda: LlamaForCausalLM(
        LlamaConfig(
            hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
            vocab_size=49152, tie_word_embeddings=True, max_position_embeddings=2048, rope_theta=10000.0,
        )
    ),
}


def bench(name: str, batch: int, seq_len: int, warmup: int, steps: int) -> dict:
    torch.manual_seed(0)
    model = PRESETS[name]()
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, task_type="CAUSAL_LM"))
    model.train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    vocab = model.config.vocab_size
    ids = torch.tensor([[(b * 7919 + t * 104729) % vocab for t in range(seq_len)] for b in range(batch)])
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
    step = statistics.median(times)
    return {"preset": name, "trainable": trainable, "step_s": step, "tokens_per_s": batch * seq_len / step, "steps_s": [round(t, 3) for t in times]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="distilgpt2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    results = [bench(n, a.batch, a.seq_len, a.warmup, a.steps) for n in a.preset.split(",")]
    machine = f"{platform.processor() or platform.machine()}, torch {torch.__version__} ({a.threads} threads), transformers {transformers.__version__}, peft {peft.__version__}"
    if a.json:
        print(json.dumps({"machine": machine, "results": results}, indent=2))
        return
    print(f"{machine}\nbatch {a.batch} x {a.seq_len} tokens, LoRA r=8 on PEFT's default targets, AdamW; {a.warmup} warm-up + {a.steps} timed steps\n")
    print("| preset | trainable | train tokens/s | step (s) |")
    print("| --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['preset']} | {r['trainable']:,} | {r['tokens_per_s']:.1f} | {r['step_s']:.2f} |")


if __name__ == "__main__":
    main()
