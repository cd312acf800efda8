"""Hand-built LoRA adapters, independent of both LoRA Lab and the peft library.

For three fixture bases, this script draws lora_A / lora_B by hand with PEFT's naming
(`base_model.model.<module>.lora_A.weight` (r, in), `.lora_B.weight` (out, r)) and PEFT's math
(y = base(x) + scale * x A^T B^T, scale = alpha / r or alpha / sqrt(r) with rsLoRA), applied with
plain forward hooks on the transformers model, and records the masked next-token loss and logits.
It writes a minimal hand-written adapter_config.json (only the keys that matter), saves the
tensors with safetensors (metadata {"format": "pt"}), and LoRA Lab must reproduce the loss.

    /work/pyref/bin/python scripts/gen_handmade_adapters.py   # writes test/fixtures/handmade-lora/
"""
import json
import math
import re
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "test" / "fixtures"
OUT = FIXTURES / "handmade-lora"

CASES = [
    {
        "name": "gpt2-tiny-c_proj-r3",
        "base": "gpt2-tiny",
        # a list entry matches by suffix: both attn.c_proj and mlp.c_proj
        "config": {"r": 3, "lora_alpha": 5, "target_modules": ["c_proj"], "fan_in_fan_out": True},
        "prompt_tokens": 4,  # loss only after the first 4 tokens of each row (a prompt/completion mask)
        "dtype": torch.float32,
        "seed": 11,
    },
    {
        "name": "llama-tiny-gqa-bf16-k-o-down-layer1-rslora-bf16",
        "base": "llama-tiny-gqa-bf16",
        "config": {"r": 2, "lora_alpha": 3, "target_modules": ["k_proj", "o_proj", "down_proj"],
                   "layers_to_transform": [1], "use_rslora": True},
        "prompt_tokens": 0,
        "dtype": torch.bfloat16,  # adapter tensors stored as BF16; the reference uses the rounded values
        "seed": 12,
    },
    {
        "name": "mistral-tiny-f16-sharded-regex-r4",
        "base": "mistral-tiny-f16-sharded",
        "config": {"r": 4, "lora_alpha": 16, "target_modules": r".*\.(q_proj|up_proj)"},
        "prompt_tokens": 3,
        "dtype": torch.float32,
        "seed": 13,
    },
]


def selected(model, cfg):
    """Module names the config selects, by PEFT's rules (list: exact or suffix; str: full regex; layers)."""
    tm = cfg["target_modules"]
    layers = cfg.get("layers_to_transform")
    out = []
    for name, mod in model.named_modules():
        if not hasattr(mod, "weight") or mod.weight is None or mod.weight.dim() != 2 or name == "lm_head" or "wte" in name or "wpe" in name or "embed" in name:
            continue
        if isinstance(tm, str):
            ok = re.fullmatch(tm, name) is not None
        else:
            ok = name in tm or any(name.endswith("." + t) for t in tm)
            if ok and layers is not None:
                m = re.match(r".*?\.[^.]*\.(\d+)\.", name)
                ok = m is not None and int(m.group(1)) in layers
        if ok:
            out.append((name, mod))
    return out


def in_out(name, mod):
    # GPT-2 Conv1D stores (in, out); nn.Linear (out, in)
    w = mod.weight
    return (w.shape[0], w.shape[1]) if type(mod).__name__ == "Conv1D" else (w.shape[1], w.shape[0])


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    for case in CASES:
        folder = OUT / case["name"]
        folder.mkdir(parents=True)
        base_dir = FIXTURES / case["base"]
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32, attn_implementation="eager").eval()
        cfg = case["config"]
        r = cfg["r"]
        scale = cfg["lora_alpha"] / (math.sqrt(r) if cfg.get("use_rslora") else r)
        g = torch.Generator().manual_seed(case["seed"])
        tensors = {}
        for name, mod in selected(model, cfg):
            fin, fout = in_out(name, mod)
            a = (0.2 * torch.randn(r, fin, generator=g)).to(case["dtype"])
            b = (0.2 * torch.randn(fout, r, generator=g)).to(case["dtype"])
            tensors[f"base_model.model.{name}.lora_A.weight"] = a.contiguous()
            tensors[f"base_model.model.{name}.lora_B.weight"] = b.contiguous()
            af, bf = a.float(), b.float()

            def hook(m, inputs, output, af=af, bf=bf):
                return output + scale * (inputs[0] @ af.T @ bf.T)

            mod.register_forward_hook(hook)
        assert tensors, case["name"]
        save_file(tensors, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
        config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": case["base"], "bias": "none", **cfg}
        (folder / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")

        vocab = model.config.vocab_size
        ids = torch.randint(0, vocab, (2, 12), generator=g)
        weights = torch.ones(2, 12)
        weights[:, : max(1, case["prompt_tokens"])] = 0  # the first token is never predicted
        with torch.no_grad():
            logits = model(input_ids=ids).logits.float()
        nll = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1), reduction="none")
        w = weights[:, 1:].reshape(-1)
        loss = (nll * w).sum() / w.sum()
        golden = {
            "base": f"../../{case['base']}",
            "input_ids": ids.tolist(),
            "weights": weights.tolist(),
            "loss": float(loss),
            "logits": [[[float(f"{x:.8g}") for x in row] for row in seq] for seq in logits.tolist()],
            "modules": sorted(k[len("base_model.model."):-len(".lora_A.weight")] for k in tensors if k.endswith("lora_A.weight")),
            "note": (f"torch {torch.__version__}, no peft: lora_A/lora_B = 0.2*randn (seed {case['seed']}, stored as "
                     f"{str(case['dtype']).replace('torch.', '')}), applied as forward hooks y += {scale:.6g} * x A^T B^T on "
                     "the transformers base loaded as float32 (eager attention); loss = sum(w * CE(logits[:, :-1], ids[:, 1:])) / sum(w) "
                     "with w = weights[:, 1:]."),
        }
        (folder / "golden.json").write_text(json.dumps(golden) + "\n")
        print(f"{case['name']}: {len(tensors) // 2} modules, loss {float(loss):.6f}")


if __name__ == "__main__":
    main()
