#!/usr/bin/env python3
"""Golden values for DoRA (issue 18 item 1: PEFT's use_dora=True), produced with real PEFT.

  test/fixtures/dora/<model>-<variant>/adapter_config.json, adapter_model.safetensors
      PEFT's own save_pretrained output of a DoRA adapter on the tiny fixture models (GPT-2's Conv1D
      with fan_in_fan_out, Llama's nn.Linear with GQA), lora_A/lora_B re-drawn (B nonzero) and the
      magnitude moved off its initial norm, so every DoRA term matters.
  test/fixtures/dora/<model>-<variant>/golden.json
      the PEFT model's logits, loss (labels = input_ids), d loss / d (lora_A, lora_B, magnitude),
      the magnitudes get_peft_model initialised (‖W‖ per output, B = 0), the merge_and_unload()
      logits and get_nb_trainable_parameters().
  test/fixtures/dora/modules.json
      one DoRA layer alone (nn.Linear with bias, and GPT-2's Conv1D with bias) in training mode,
      with and without lora_dropout: PEFT's lora_dropout module is replaced by a fixed mask (the
      kept entries times 1/(1-p), what nn.Dropout multiplies by), so the dropout branch (the base
      product recomputed on the dropped-out input) is checked without sharing a random generator.
      Output and the gradients of x, lora_A, lora_B and the magnitude for a random upstream gradient.
  test/fixtures/dora/param-counts.json
      PEFT's get_nb_trainable_parameters() with use_dora=True on real configs (meta device) and on
      the tiny fixtures.

Run: .venv-interop/bin/python scripts/gen_dora_golden.py   (versions: scripts/requirements-ref.txt)
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# gen_golden pins PYTHONHASHSEED (re-executing this script once), sets offline mode and one thread.
from gen_golden import (  # noqa: E402
    FIXTURES, LORA_STD, clean_dir, count_params, hub_style_config, load_f32, logits_of, real_configs,
    safetensors_keys, to_json_numbers, write_json, write_pretty_json,
)

import peft  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import GPT2LMHeadModel, LlamaForCausalLM  # noqa: E402
from transformers.pytorch_utils import Conv1D  # noqa: E402

OUT = FIXTURES / "dora"
MAGNITUDE_JITTER = 0.1  # magnitude = initial norm × (1 + 0.1·randn): m/‖W+ΔW‖ is not 1 anywhere


def peft_key(name: str) -> str:
    """A parameter name as adapter_model.safetensors names it (adapter name dropped, DoRA's `.weight` too)."""
    name = name.replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B.")
    return name.replace(".lora_magnitude_vector.default.weight", ".lora_magnitude_vector")


def gen_model(model_name: str, cls, variant: str, lora_kwargs: dict, seed: int) -> dict:
    folder = OUT / f"{model_name}-{variant}"
    clean_dir(folder)
    base_folder = FIXTURES / model_name
    input_ids = torch.tensor(__import__("json").loads((base_folder / "golden.json").read_text())["input_ids"])
    base = load_f32(cls, base_folder)
    base.name_or_path = model_name
    pm = get_peft_model(base, LoraConfig(lora_dropout=0.0, bias="none", task_type="CAUSAL_LM", use_dora=True, **lora_kwargs))
    pm.eval()
    init_magnitudes = {peft_key(n): p.detach().clone() for n, p in pm.named_parameters() if "lora_magnitude_vector" in n}
    assert init_magnitudes, "no DoRA magnitude parameters"

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(pm.named_parameters()):
            if ".lora_A." in name or ".lora_B." in name:
                p.copy_(LORA_STD * torch.randn(p.shape, generator=g, dtype=torch.float32))
            elif "lora_magnitude_vector" in name:
                p.mul_(1 + MAGNITUDE_JITTER * torch.randn(p.shape, generator=g, dtype=torch.float32))

    pm.save_pretrained(str(folder))
    readme = folder / "README.md"
    if readme.exists():
        readme.unlink()
    saved = safetensors_keys(folder / "adapter_model.safetensors")

    out = pm(input_ids=input_ids, labels=input_ids)
    logits, loss = out.logits.float(), out.loss
    loss.backward()
    grads = {peft_key(n): p.grad.detach().clone() for n, p in pm.named_parameters() if p.requires_grad}
    assert set(grads) == set(saved), sorted(set(grads) ^ set(saved))
    trainable, total = pm.get_nb_trainable_parameters()

    merged = copy.deepcopy(pm).merge_and_unload()
    merged.eval()
    logits_merged = logits_of(merged, input_ids)
    merge_diff = (logits_merged - logits.detach()).abs().max().item()

    write_json(folder / "golden.json", {
        "input_ids": input_ids.tolist(),
        "logits_adapter": to_json_numbers(logits),
        "loss": float(loss.item()),
        "grads": {k: to_json_numbers(grads[k]) for k in sorted(grads)},
        "magnitude_init": {k: to_json_numbers(v) for k, v in sorted(init_magnitudes.items())},
        "logits_merged": to_json_numbers(logits_merged),
        "trainable_params": trainable,
        "total_params": total,
        "note": (f"PEFT {peft.__version__} (torch {torch.__version__}, transformers {transformers.__version__}) get_peft_model on "
                 f"../../{model_name} (float32, eager attention) with LoraConfig(use_dora=True, "
                 f"{', '.join(f'{k}={v!r}' for k, v in lora_kwargs.items())}, lora_dropout=0.0). magnitude_init: the "
                 "lora_magnitude_vector get_peft_model made (‖W‖ per output row, B = 0). Then every lora_A/lora_B re-drawn "
                 f"as {LORA_STD}*randn and every magnitude multiplied by (1 + {MAGNITUDE_JITTER}*randn); saved with "
                 "save_pretrained (this folder). logits_adapter/loss: PEFT forward with labels=input_ids; grads: "
                 "loss.backward(), keys as in adapter_model.safetensors, PyTorch layout (lora_A [r, in], lora_B [out, r], "
                 "magnitude [out]); logits_merged: merge_and_unload() of a copy."),
    })
    print(f"  {folder.name}: loss {loss.item():.6f}, |merged - adapter| {merge_diff:.3g}, "
          f"{len(saved)} tensors, trainable {trainable:,}")
    return {"keys": saved, "merge_diff": merge_diff}


class FixedMask(torch.nn.Module):
    """Stands in for lora_dropout: x times a fixed mask (0, or 1/(1-p) where kept, as nn.Dropout scales)."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.mask = mask

    def forward(self, x):
        return x * self.mask


class One(torch.nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


def gen_module(kind: str, dropout: float, seed: int, n_in=12, n_out=7, rows=5, r=3, alpha=5) -> dict:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    layer = torch.nn.Linear(n_in, n_out) if kind == "linear" else Conv1D(n_out, n_in)
    with torch.no_grad():
        layer.weight.copy_(0.3 * torch.randn(layer.weight.shape, generator=g))
        layer.bias.copy_(0.1 * torch.randn(layer.bias.shape, generator=g))
    fan = kind == "conv1d"
    pm = get_peft_model(One(layer), LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=["layer"],
                                               use_dora=True, fan_in_fan_out=fan))
    lora = pm.base_model.model.layer
    a, b, m = lora.lora_A["default"].weight, lora.lora_B["default"].weight, lora.lora_magnitude_vector["default"].weight
    init_m = m.detach().clone()
    with torch.no_grad():
        a.copy_(0.3 * torch.randn(a.shape, generator=g))
        b.copy_(0.3 * torch.randn(b.shape, generator=g))
        m.mul_(1 + MAGNITUDE_JITTER * torch.randn(m.shape, generator=g))
    mask = None
    if dropout > 0:
        keep = 1 - dropout
        mask = (torch.rand((rows, n_in), generator=g) < keep).float() / keep
        lora.lora_dropout["default"] = FixedMask(mask)
    pm.train()
    x = torch.randn((rows, n_in), generator=g).requires_grad_(True)
    dy = torch.randn((rows, n_out), generator=g)
    y = pm(x)
    (y * dy).sum().backward()
    return {
        "name": f"{kind} {n_in}->{n_out} r={r} alpha={alpha} lora_dropout={dropout}",
        "kind": kind, "fanInFanOut": fan, "in": n_in, "out": n_out, "r": r, "alpha": alpha, "scaling": lora.scaling["default"],
        "dropout": dropout,
        # the weight as the layer stores it: nn.Linear (out, in), Conv1D (in, out)
        "weight": to_json_numbers(layer.weight), "bias": to_json_numbers(layer.bias),
        "lora_A": to_json_numbers(a), "lora_B": to_json_numbers(b), "magnitude": to_json_numbers(m), "magnitude_init": to_json_numbers(init_m),
        "mask": to_json_numbers(mask) if mask is not None else None,
        "x": to_json_numbers(x), "dy": to_json_numbers(dy), "y": to_json_numbers(y),
        "dx": to_json_numbers(x.grad), "grad_A": to_json_numbers(a.grad), "grad_B": to_json_numbers(b.grad), "grad_magnitude": to_json_numbers(m.grad),
    }


def gen_counts() -> list:
    gpt2, _distil, smollm, _tiny, qwen2, _mistral = real_configs()
    cases = [
        ("gpt2 r=8 c_attn use_dora", gpt2, {"r": 8, "target_modules": ["c_attn"], "use_dora": True}),
        ("gpt2 r=8 all-linear use_dora", gpt2, {"r": 8, "target_modules": "all-linear", "use_dora": True}),
        ("SmolLM-135M r=8 q_proj,v_proj use_dora", smollm, {"r": 8, "target_modules": ["q_proj", "v_proj"], "use_dora": True}),
        ("Qwen2-0.5B r=16 all-linear use_dora", qwen2, {"r": 16, "target_modules": "all-linear", "use_dora": True}),
        ("gpt2 r=8 c_attn,c_fc rank_pattern c_fc=2 use_dora", gpt2,
         {"r": 8, "target_modules": ["c_attn", "c_fc"], "rank_pattern": {"c_fc": 2}, "use_dora": True}),
    ]
    out = []
    for name, config, lora in cases:
        trainable, total, base, adapted = count_params(config, lora)
        out.append({"name": name, "config": hub_style_config(config), "lora": lora, "trainable": trainable, "total": total,
                    "base_params": base, "adapted_module_count": len(adapted)})
        print(f"  {name}: trainable {trainable:,} / total {total:,}")
    return out


def main() -> int:
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")
    OUT.mkdir(parents=True, exist_ok=True)
    results = [
        gen_model("gpt2-tiny", GPT2LMHeadModel, "r4-c_attn-c_proj", {"r": 4, "lora_alpha": 8, "target_modules": ["c_attn", "c_proj"]}, 8100),
        gen_model("llama-tiny-gqa-bf16", LlamaForCausalLM, "r4-q-v-down",
                  {"r": 4, "lora_alpha": 6, "target_modules": ["q_proj", "v_proj", "down_proj"]}, 8200),
    ]
    for r in results:
        assert r["merge_diff"] < 1e-4, r["merge_diff"]
        assert any(k.endswith(".lora_magnitude_vector") for k in r["keys"]), r["keys"]
    modules = [gen_module(kind, p, 8300 + i) for i, (kind, p) in enumerate([("linear", 0.0), ("linear", 0.25), ("conv1d", 0.0), ("conv1d", 0.25)])]
    write_json(OUT / "modules.json", {
        "note": (f"PEFT {peft.__version__}: get_peft_model(One(layer), LoraConfig(use_dora=True, …)) on one nn.Linear or "
                 "transformers Conv1D with bias, weights 0.3*randn, lora_A/lora_B 0.3*randn, magnitude × (1 + 0.1*randn); "
                 "train() mode; with lora_dropout > 0 the dropout module is replaced by x * mask (mask given, already "
                 "scaled by 1/(1-p)). y = model(x); grads from (y * dy).sum().backward()."),
        "cases": modules,
    })
    print(f"  modules.json: {len(modules)} cases")
    counts = gen_counts()
    write_pretty_json(OUT / "param-counts.json", counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
