"""PEFT's LoraConfig, field by field, and adapters that use rank_pattern / alpha_pattern.

Run in the reference venv (scripts/requirements-ref.txt: peft 0.21.2):

    .venv-interop/bin/python scripts/gen_peft_fields.py   # writes test/fixtures/peft/

Writes:
  loraconfig-fields.json  every field of dataclasses.fields(peft.LoraConfig) with its default, and the
                           keys LoraConfig().to_dict() writes (what adapter_config.json holds), for the
                           test that src/core/peft/configFields.ts covers every one of them;
  defaults-gpt2-tiny/      PEFT's save_pretrained of LoraConfig(task_type="CAUSAL_LM") with every other
                           field at its default, on ../gpt2-tiny: must load with no refusal;
  patterns-gpt2-tiny/      get_peft_model with rank_pattern / alpha_pattern (regex keys, an order-
  patterns-llama-tiny/     dependent overlap, rsLoRA on Llama), lora_A/lora_B re-drawn as 0.1*randn,
                           saved with golden.json: PEFT's logits, merged logits, per-module r and
                           scaling, and get_nb_trainable_parameters() (print_trainable_parameters()).
"""
import dataclasses
import json
import shutil
from pathlib import Path

import peft
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.lora import LoraLayer
from transformers import AutoModelForCausalLM

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "test" / "fixtures"
OUT = FIXTURES / "peft"
LORA_STD = 0.1


def jsonable(v):
    if dataclasses.is_dataclass(v):
        return dataclasses.asdict(v)
    if isinstance(v, set):
        return sorted(v)
    return v


def field_list():
    fields = []
    for f in dataclasses.fields(LoraConfig):
        if f.default is not dataclasses.MISSING:
            d = f.default
        elif f.default_factory is not dataclasses.MISSING:
            d = f.default_factory()
        else:
            d = None
        fields.append({"name": f.name, "default": jsonable(d)})
    written = sorted(LoraConfig().to_dict().keys())
    return {
        "peft_version": peft.__version__,
        "note": "dataclasses.fields(peft.LoraConfig) with defaults (default_factory called; dataclasses as dicts); "
                "written: the keys of LoraConfig().to_dict(), i.e. of adapter_config.json",
        "fields": fields,
        "written": written,
    }


def load_base(name):
    model = AutoModelForCausalLM.from_pretrained(str(FIXTURES / name), dtype=torch.float32, attn_implementation="eager").eval()
    model.name_or_path = name  # PEFT records it as base_model_name_or_path
    return model


def save(pm, folder: Path):
    shutil.rmtree(folder, ignore_errors=True)
    pm.save_pretrained(str(folder))
    readme = folder / "README.md"
    if readme.exists():
        readme.unlink()


def nums(t):
    return json.loads(json.dumps(t.tolist(), allow_nan=False), parse_float=lambda s: float(f"{float(s):.8g}"))


def gen_defaults():
    pm = get_peft_model(load_base("gpt2-tiny"), LoraConfig(task_type="CAUSAL_LM"))
    save(pm, OUT / "defaults-gpt2-tiny")


def gen_patterns(name: str, base: str, kwargs: dict, seed: int):
    folder = OUT / name
    pm = get_peft_model(load_base(base), LoraConfig(task_type="CAUSAL_LM", lora_dropout=0.0, **kwargs))
    pm.eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for pname, p in sorted(pm.named_parameters()):
            if ".lora_A." in pname or ".lora_B." in pname:
                p.copy_(LORA_STD * torch.randn(p.shape, generator=g, dtype=torch.float32))
    save(pm, folder)
    modules = {}
    for mname, m in pm.named_modules():
        if isinstance(m, LoraLayer):
            key = mname.removeprefix("base_model.model.")
            modules[key] = {"r": m.r["default"], "alpha": m.lora_alpha["default"], "scaling": m.scaling["default"]}
    vocab = pm.config.vocab_size
    ids = torch.randint(0, vocab, (2, 9), generator=g)
    with torch.no_grad():
        logits = pm(input_ids=ids).logits.float()
    trainable, total = pm.get_nb_trainable_parameters()
    # PEFT reloads what it saved to the same logits (the patterns survive the JSON round trip)
    with torch.no_grad():
        reloaded = PeftModel.from_pretrained(load_base(base), str(folder)).eval()(input_ids=ids).logits.float()
    assert (reloaded - logits).abs().max().item() < 1e-5, name
    merged = pm.merge_and_unload().eval()
    with torch.no_grad():
        logits_merged = merged(input_ids=ids).logits.float()
    golden = {
        "base": f"../../{base}",
        "input_ids": ids.tolist(),
        "logits": nums(logits),
        "logits_merged": nums(logits_merged),
        "modules": modules,
        "trainable_params": trainable,
        "total_params": total,
        "note": (f"PEFT {peft.__version__}, transformers {transformers.__version__}, torch {torch.__version__}: "
                 f"get_peft_model(../../{base} as float32, eager attention, "
                 f"LoraConfig({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}, lora_dropout=0.0)); every lora_A/lora_B "
                 f"re-drawn as {LORA_STD}*randn (seed {seed}); logits: the PEFT model's forward; logits_merged: after "
                 "merge_and_unload(); modules: each LoraLayer's r, lora_alpha and scaling; trainable_params/total_params: "
                 "get_nb_trainable_parameters(), the figures print_trainable_parameters() prints."),
    }
    (folder / "golden.json").write_text(json.dumps(golden) + "\n")
    print(f"{name}: {len(modules)} modules, trainable {trainable} of {total}")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "loraconfig-fields.json").write_text(json.dumps(field_list(), indent=1) + "\n")
    gen_defaults()
    gen_patterns("patterns-gpt2-tiny", "gpt2-tiny", {
        "r": 4, "lora_alpha": 8, "target_modules": ["c_attn", "c_proj", "c_fc"],
        # The first matching key wins (dict order): layer 1's c_attn gets 2, layer 0's 6. PEFT writes the
        # keys sorted (json sort_keys) and reloads them in that order, so overlapping keys must sort with
        # the specific one first, or PEFT cannot reload its own adapter: "1\.attn…" < "c_attn".
        "rank_pattern": {r"1\.attn\.c_attn": 2, "c_attn": 6, r"mlp\.c_proj": 3},
        "alpha_pattern": {"c_fc": 32, r"transformer\.h\.0\.attn\.c_proj": 1.5},
    }, seed=21)
    gen_patterns("patterns-llama-tiny", "llama-tiny-gqa-bf16", {
        "r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "k_proj", "v_proj", "down_proj"], "use_rslora": True,
        "rank_pattern": {"layers.0.self_attn.q_proj": 5, "down_proj": 3},
        "alpha_pattern": {r"layers\.[01]\.self_attn\.v_proj": 9},
    }, seed=22)


if __name__ == "__main__":
    main()
