"""PyTorch + PEFT reference for `npm run bench`: the same LoRA training workload on the same CPU.

Builds each preset's architecture with random weights (transformers' own init; values do not
matter for speed), wraps it with peft.get_peft_model(LoraConfig(r=8, lora_alpha=16,
lora_dropout=0)) on the architecture's default targets (PEFT's own mapping: c_attn for GPT-2,
q_proj/v_proj for Llama), and times AdamW steps on batch x seq-len random token ids with
labels = input_ids (HF's shifted next-token loss), exactly what LoRA Lab's bench times; then the
evaluation loss (no gradients) on the same batch and greedy generation with the KV cache (32 new
tokens after a 16-token prompt), as LoRA Lab's bench does. Presets: distilgpt2, gpt2, smollm-135m,
smollm-360m, qwen2.5-0.5b (the same shapes as src/bench/presets.ts). Run one preset per process
to compare peak RSS.

    .venv-interop/bin/python scripts/bench_torch.py --preset distilgpt2,gpt2,smollm-135m --threads 2

(the venv comes from `npm run test:interop`, or pip install -r scripts/requirements-ref.txt).
Prints a Markdown table, or JSON with --json.
"""

import argparse
import json
import platform
import statistics
import sys
import time

import torch
import transformers
import peft
from peft import LoraConfig, get_peft_model
import resource
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

PRESETS = {
    "distilgpt2": lambda: GPT2LMHeadModel(GPT2Config(n_embd=768, n_head=12, n_layer=6, vocab_size=50257, n_positions=1024)),
    "gpt2": lambda: GPT2LMHeadModel(GPT2Config(n_embd=768, n_head=12, n_layer=12, vocab_size=50257, n_positions=1024)),
    "smollm-135m": lambda: LlamaForCausalLM(
        LlamaConfig(
            hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
            vocab_size=49152, tie_word_embeddings=True, max_position_embeddings=2048, rope_theta=10000.0,
        )
    ),
    "smollm-360m": lambda: LlamaForCausalLM(
        LlamaConfig(
            hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15, num_key_value_heads=5,
            vocab_size=49152, tie_word_embeddings=True, max_position_embeddings=2048, rope_theta=10000.0,
        )
    ),
    "qwen2.5-0.5b": lambda: Qwen2ForCausalLM(
        Qwen2Config(
            hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
            vocab_size=151936, tie_word_embeddings=True, max_position_embeddings=32768, rope_theta=1000000.0,
        )
    ),
}


def matmul_peak() -> dict:
    """GFLOP/s of fp32 matmuls, best of a few: the same two shapes `npm run bench` prints."""
    out = {}
    for name, (m, k, n, reps) in {"small": (512, 768, 768, 20), "large": (2048, 2048, 2048, 5)}.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        a @ b
        best = min(_timed(lambda: a @ b) for _ in range(reps))
        out[name] = 2 * m * k * n / best / 1e9
    return out


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    # Evaluation: the forward loss on the same batch without gradients (LoRA Lab's eval tok/s), after one untimed call.
    model.eval()
    with torch.no_grad():
        model(input_ids=ids, labels=ids)
        evals = [_timed(lambda: model(input_ids=ids, labels=ids).loss.item()) for _ in range(2)]
        # Generation: greedy, KV cache, 32 new tokens after a 16-token prompt (LoRA Lab's generate tok/s), after a short untimed run.
        prompt = ids[:1, :16]
        kw = dict(do_sample=False, use_cache=True, pad_token_id=0, eos_token_id=None)
        model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=2, min_new_tokens=2, **kw)
        t0 = time.perf_counter()
        out = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=32, min_new_tokens=32, **kw)
        gen_s = time.perf_counter() - t0
    new_tokens = out.shape[1] - prompt.shape[1]
    return {
        "preset": name, "trainable": trainable, "step_s": step, "tokens_per_s": batch * seq_len / step, "steps_s": [round(t, 3) for t in times],
        "eval_tokens_per_s": batch * seq_len / statistics.mean(evals), "generate_tokens_per_s": new_tokens / gen_s, "peak_rss_mb": peak_rss_mb(),
    }


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
    peak = matmul_peak()
    print(f"torch {torch.__version__} ({a.threads} threads); matMul [512,768]x[768,768]: {peak['small']:.1f} GFLOP/s, [2048,2048]x[2048,2048]: {peak['large']:.1f} GFLOP/s", file=sys.stderr)
    results = [bench(n, a.batch, a.seq_len, a.warmup, a.steps) for n in a.preset.split(",")]
    machine = f"{platform.processor() or platform.machine()}, torch {torch.__version__} ({a.threads} threads), transformers {transformers.__version__}, peft {peft.__version__}"
    if a.json:
        print(json.dumps({"machine": machine, "matmul_peak_gflops": peak, "results": results}, indent=2))
        return
    print(f"{machine}\nbatch {a.batch} x {a.seq_len} tokens, LoRA r=8 on PEFT's default targets, AdamW; {a.warmup} warm-up + {a.steps} timed steps")
    print(f"matMul peak: {peak['small']:.0f} GFLOP/s ([512,768]x[768,768]), {peak['large']:.0f} GFLOP/s (2048^3)\n")
    print("| preset | trainable | train tokens/s | step (s) | eval tokens/s | generate tokens/s | peak RSS (process so far) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['preset']} | {r['trainable']:,} | {r['tokens_per_s']:.1f} | {r['step_s']:.2f} | {r['eval_tokens_per_s']:.0f} | "
            f"{r['generate_tokens_per_s']:.1f} | {r['peak_rss_mb']:.0f} MB |"
        )


if __name__ == "__main__":
    main()
