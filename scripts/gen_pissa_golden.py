"""Golden values for PiSSA / OLoRA initialisation and PEFT's conversion to a plain LoRA adapter
(issue 18 item 2), from PEFT 0.21.2 itself (tuners/lora/layer.py pissa_init / olora_init,
peft_model.save_pretrained(path_initial_model_for_weight_conversion=...)).

Per case (a tiny model loaded in float32, get_peft_model with the given LoraConfig):
  modules[path]: PEFT's s*B0@A0 after init, in nn.Linear's (out, in) layout, and for the first module
                 the residual base weight (as PEFT stores it: Conv1D (in, out)) and A0/B0;
  converted:     after a pretend training step (A, B moved by seeded noise), save_pretrained with the
                 initial adapter: the converted adapter_config fields and the logits of
                 PeftModel.from_pretrained(original base, converted) and of the trained model on the residual.
The converted adapter folders are written beside (test/fixtures/pissa/<case>-converted/).

Run: .venv-interop/bin/python scripts/gen_pissa_golden.py  -> test/fixtures/pissa/*.json
"""
import json
import pathlib
import shutil
import tempfile

import peft
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "test" / "fixtures" / "pissa"
IDS = [[3, 17, 5, 42, 8, 1, 29, 11]]


def flat(t, digits=7):
    return [float(f"{x:.{digits}g}") for x in t.detach().flatten().tolist()]


def lora_layers(model):
    return {n.removeprefix("base_model.model."): m for n, m in model.named_modules() if hasattr(m, "lora_A") and "default" in m.lora_A}


def case(name, fixture, cfg, full_module, fan_in_fan_out, convert=True):
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(ROOT / "test" / "fixtures" / fixture, dtype=torch.float32)
    ids = torch.tensor(IDS)
    with torch.no_grad():
        base_logits = base(ids).logits
    orig = {n: p.detach().clone() for n, p in base.named_parameters()}
    init = cfg.init_lora_weights  # get_peft_model keeps cfg itself as peft_config["default"]
    model = get_peft_model(base, cfg)
    out = {"case": name, "fixture": fixture, "init": cfg.init_lora_weights, "r": cfg.r, "loraAlpha": cfg.lora_alpha,
           "useRslora": cfg.use_rslora, "targetModules": sorted(cfg.target_modules) if not isinstance(cfg.target_modules, str) else cfg.target_modules,
           "ids": IDS, "modules": {}}
    with tempfile.TemporaryDirectory() as tmp:
        init_dir = pathlib.Path(tmp) / "init"
        # PEFT's documented flow: save the initial adapter as plain LoRA (init_lora_weights=True) before training.
        model.peft_config["default"].init_lora_weights = True
        model.save_pretrained(init_dir)
        model.peft_config["default"].init_lora_weights = init
        with torch.no_grad():
            out["initMaxAbsLogitDiff"] = float((model(ids).logits - base_logits).abs().max())
        for path, layer in lora_layers(model).items():
            a0, b0 = layer.lora_A["default"].weight, layer.lora_B["default"].weight
            s = layer.scaling["default"]
            entry = {"scale": s, "product": flat(s * b0 @ a0), "shape": [b0.shape[0], a0.shape[1]]}
            # The same product from a float64 decomposition (PEFT's is float32): the accuracy reference.
            w64 = orig[path + ".weight"].to(torch.float64)
            w64 = w64.T if fan_in_fan_out else w64
            r = cfg.r
            if init == "pissa":
                u, sv, vh = torch.linalg.svd(w64, full_matrices=False)
                entry["product64"] = flat(u[:, :r] @ torch.diag(sv[:r]) @ vh[:r], 10)
            elif init == "olora":
                q, rr = torch.linalg.qr(orig[path + ".weight"].to(torch.float64))  # PEFT: the weight as stored
                entry["product64"] = flat(s * q[:, :r] @ rr[:r], 10)
            if path == full_module:
                entry["residual"] = flat(layer.base_layer.weight)  # stored layout
                entry["original"] = flat(orig[path + ".weight"])
                entry["a0"], entry["b0"] = flat(a0), flat(b0)
                w = orig[path + ".weight"]
                w = w.T if fan_in_fan_out else w
                entry["singularValues"] = flat(torch.linalg.svdvals(w.to(torch.float64)))
            out["modules"][path] = entry
        if not convert:
            return out
        # A pretend training step: every A and B moves by seeded noise.
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for layer in lora_layers(model).values():
                for p in (layer.lora_A["default"].weight, layer.lora_B["default"].weight):
                    p.add_(0.05 * torch.randn(p.shape, generator=g))
            trained_logits = model(ids).logits
        out["trained"] = {}
        for path, layer in lora_layers(model).items():
            out["trained"][path] = {"a": flat(layer.lora_A["default"].weight), "b": flat(layer.lora_B["default"].weight)}
        conv_dir = OUT / f"{name}-converted"
        shutil.rmtree(conv_dir, ignore_errors=True)
        model.save_pretrained(conv_dir, path_initial_model_for_weight_conversion=str(init_dir))
    (conv_dir / "README.md").unlink(missing_ok=True)  # PEFT's model-card template
    conf = json.loads((conv_dir / "adapter_config.json").read_text())
    out["converted"] = {k: conf[k] for k in ("r", "lora_alpha", "init_lora_weights", "use_rslora", "rank_pattern", "alpha_pattern")}
    out["converted"]["shapes"] = {k: list(v.shape) for k, v in load_file(conv_dir / "adapter_model.safetensors").items()}
    base2 = AutoModelForCausalLM.from_pretrained(ROOT / "test" / "fixtures" / fixture, dtype=torch.float32)
    reloaded = PeftModel.from_pretrained(base2, conv_dir)
    with torch.no_grad():
        conv_logits = reloaded(ids).logits
    out["trainedLogits"] = flat(trained_logits)
    out["convertedLogits"] = flat(conv_logits)
    out["convertedVsTrainedMaxAbs"] = float((conv_logits - trained_logits).abs().max())
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = [
        case("gpt2-pissa", "gpt2-tiny", LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj"], init_lora_weights="pissa"),
             "transformer.h.0.attn.c_attn", True),
        case("gpt2-pissa-niter", "gpt2-tiny", LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], init_lora_weights="pissa_niter_16"),
             "transformer.h.0.attn.c_attn", True, convert=False),
        case("llama-pissa", "llama-tiny-gqa-bf16", LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "down_proj"], init_lora_weights="pissa"),
             "model.layers.0.mlp.down_proj", False, convert=False),
        case("llama-olora-rslora", "llama-tiny-gqa-bf16", LoraConfig(r=4, lora_alpha=6, use_rslora=True, target_modules=["q_proj", "k_proj", "down_proj"], init_lora_weights="olora"),
             "model.layers.0.self_attn.k_proj", False),
    ]
    note = f"torch {torch.__version__}, peft {peft.__version__}; models loaded in float32; ids {IDS}"
    for c in cases:
        c["note"] = note
        (OUT / f"{c['case']}.json").write_text(json.dumps(c))
        print(c["case"], "init diff", c["initMaxAbsLogitDiff"], "converted vs trained", c.get("convertedVsTrainedMaxAbs"))


if __name__ == "__main__":
    main()
