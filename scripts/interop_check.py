"""Interop check: LoRA Lab's outputs loaded by the real Python stack (run by scripts/interop_check.sh).

    python scripts/interop_check.py --check-versions
        exit 0 when torch/transformers/peft/safetensors/numpy are installed at the versions pinned
        in scripts/requirements-ref.txt (the shell script then skips the install).

    python scripts/interop_check.py --base DIR --adapter DIR --merged DIR --logits FILE --eval FILE --data FILE
        loads LoRA Lab's adapter with PeftModel.from_pretrained and its merged folder with
        AutoModelForCausalLM.from_pretrained, and asserts (float32, eager attention):
        - no missing/unexpected keys in either;
        - base, adapter and merged logits equal LoRA Lab's own (test/interop/dump_logits.ts) within 1e-4;
        - merged ≈ adapter (1e-4 for F32 bases; for F16/BF16 bases the rounding of the stored weights,
          bounded as LoRA Lab's merge check does);
        - the merged weights equal PEFT's merge_and_unload() rounded to each tensor's stored dtype
          (a few units in the last place at most: float32 sums in another order);
        - `lora-lab eval --json` losses and accuracies equal the ones computed here.

    python scripts/interop_check.py --export-bundle DIR --eval FILE [--train-steps N]
        a `lora-lab export --to trl` bundle run with this Python (issue 17):
        - requirements.txt pins the versions installed here (the tested stack);
        - `train.py --check-only` prints the base model's mean loss per loss token on the exported
          validation rows, equal to the run's eval.json base loss within 1e-4 relative (the two
          engines see the same tokens and loss mask);
        - with --train-steps: `train.py --max-steps N` in one process, and the bundle's launch.sh
          (accelerate launch, 2 processes, DDP over gloo) on the CPU, split the effective batch by
          the world size and write metrics.jsonl step rows (LoRA Lab's format) and a PEFT adapter
          that PeftModel.from_pretrained loads without missing or unexpected keys.
"""
import argparse
import json
import math
import os
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PINNED = ("torch", "transformers", "peft", "safetensors", "numpy", "trl", "datasets")
TOL = 1e-4


def check_versions() -> int:
    req = Path(__file__).with_name("requirements-ref.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in (l.split("#")[0].strip() for l in req) if "==" in line)
    for pkg in PINNED:
        try:
            have = version(pkg)
        except PackageNotFoundError:
            print(f"{pkg} not installed")
            return 1
        # torch wheels carry a local tag (2.15.0+cu132): compare the public version
        if have.split("+")[0] != pins[pkg]:
            print(f"{pkg} {have} != pinned {pins[pkg]}")
            return 1
    return 0


def check_training_output(name: str, out_dir: Path, train_steps: int, bundle: Path) -> list:
    """metrics.jsonl has one step row per step in LoRA Lab's format; the adapter loads in PEFT without key warnings."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    failures = []
    rows = [json.loads(l) for l in (out_dir / "metrics.jsonl").read_text().splitlines() if l.strip()]
    steps = [r for r in rows if r["type"] == "step"]
    keys = {"type", "step", "totalSteps", "epoch", "loss", "lr", "gradNorm", "tokens", "tokensPerSec", "stepMs", "elapsedMs", "time"}
    ok = [r["step"] for r in steps] == list(range(1, train_steps + 1)) and all(keys <= set(r) and math.isfinite(r["loss"]) for r in steps)
    print(f"  {'ok' if ok else 'FAIL'} {name} metrics.jsonl: {len(steps)} step rows in LoRA Lab's format, losses {[round(r['loss'], 4) for r in steps]}")
    if not ok:
        failures.append(f"{name}: metrics.jsonl rows")
    base = AutoModelForCausalLM.from_pretrained(json.loads((bundle / "lora-lab-bundle.json").read_text())["baseModel"], dtype=torch.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        PeftModel.from_pretrained(base, str(out_dir / "adapter"))
    key_warnings = [str(w.message) for w in caught if "missing" in str(w.message).lower() or "unexpected" in str(w.message).lower()]
    print(f"  {'ok' if not key_warnings else 'FAIL'} {name}: PeftModel.from_pretrained(adapter){'' if not key_warnings else f': {key_warnings}'}")
    if key_warnings:
        failures.append(f"{name}: adapter keys")
    return failures


def check_export(bundle: Path, eval_file: Path, train_steps: int) -> int:
    """The exported TRL bundle run here: its pins, its initial validation loss, a short training."""
    import subprocess

    failures = []
    print(f"bundle {bundle}")
    pins = dict(l.split("==") for l in (bundle / "requirements.txt").read_text().splitlines() if "==" in l and not l.startswith("#"))
    wrong = {p: (v, version(p).split("+")[0]) for p, v in pins.items() if version(p).split("+")[0] != v}
    print(f"  {'ok' if not wrong else 'FAIL'} requirements.txt pins the installed versions{'' if not wrong else f': {wrong}'}")
    if wrong:
        failures.append("requirements.txt pins")
    out = subprocess.run([sys.executable, str(bundle / "train.py"), "--check-only"], capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    line = next((l for l in out.stdout.splitlines() if l.startswith("{")), None)
    if out.returncode != 0 or line is None:
        print(out.stdout[-2000:], out.stderr[-4000:])
        failures.append("train.py --check-only failed")
    else:
        got = json.loads(line)
        want = json.loads(eval_file.read_text())["base"]["loss"]
        rel = abs(got["initial_eval_loss"] - want) / abs(want)
        ok = rel <= TOL
        print(f"  {'ok' if ok else 'FAIL'} train.py --check-only initial_eval_loss {got['initial_eval_loss']:.9f} vs eval.json base loss {want:.9f}: relative diff {rel:.3g} (tolerance {TOL:g}), {got['examples']} examples")
        if not ok:
            failures.append("initial eval loss")
    if train_steps > 0:
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        one = [sys.executable, str(bundle / "train.py"), "--max-steps", str(train_steps)]
        # Two processes, DDP over gloo on the CPU, through the bundle's own launch.sh (accelerate launch).
        two = ["bash", str(bundle / "launch.sh"), "--max-steps", str(train_steps)]
        two_env = {**env, "GPUS_PER_MACHINE": "2", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
        for name, cmd, run_env, world in (("train.py (one process)", one, env, 1), ("launch.sh (accelerate launch, 2 processes)", two, two_env, 2)):
            out_dir = bundle / f"interop-output-{world}"
            out = subprocess.run([*cmd, "--output-dir", str(out_dir)], capture_output=True, text=True, env=run_env)
            if out.returncode != 0:
                print(out.stdout[-2000:], out.stderr[-4000:])
                failures.append(f"{name} failed")
                continue
            split = next((l for l in out.stdout.splitlines() if l.startswith("effective batch")), "")
            ok = split.count(f"x world {world};") == 1 and split.startswith(f"effective batch {json.loads((bundle / 'lora-lab-bundle.json').read_text())['effectiveBatch']} ")
            print(f"  {'ok' if ok else 'FAIL'} {name}: {split}")
            if not ok:
                failures.append(f"{name}: batch split")
            failures += check_training_output(name, out_dir, train_steps, bundle)
    if failures:
        print("EXPORT INTEROP FAILED:", "; ".join(failures))
        return 1
    print("export interop ok")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check-versions", action="store_true")
    for a in ("base", "adapter", "merged", "logits", "eval", "data", "export-bundle"):
        ap.add_argument(f"--{a}")
    ap.add_argument("--train-steps", type=int, default=0)
    args = ap.parse_args()
    if args.check_versions:
        return check_versions()
    if args.export_bundle:
        return check_export(Path(args.export_bundle), Path(args.eval), args.train_steps)

    import torch
    import torch.nn.functional as F
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    ours = json.loads(Path(args.logits).read_text())
    report = json.loads(Path(args.eval).read_text())
    ids = torch.tensor(ours["input_ids"])
    failures = []

    def close(name, got, want, tol):
        diff = (torch.as_tensor(got, dtype=torch.float32) - torch.as_tensor(want, dtype=torch.float32)).abs().max().item()
        status = "ok" if diff <= tol else "FAIL"
        print(f"  {status:4} {name}: max |diff| {diff:.3g} (tolerance {tol:.3g})")
        if diff > tol:
            failures.append(name)
        return diff

    def load(folder, like=None):
        """Loads a folder; fails when it has missing/unexpected keys the base does not have too
        (a base may carry legacy buffers such as GPT-2's attn.masked_bias: the merge keeps them)."""
        model, info = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
        keys = {k: set(info.get(k) or ()) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
        bad = {k: v - (like or {}).get(k, set()) for k, v in keys.items()}
        bad = {k: v for k, v in bad.items() if v}
        if bad and like is not None:
            failures.append(f"{folder}: {bad}")
            print(f"  FAIL {folder} loads with {bad}")
        elif any(keys.values()):
            print(f"  note {folder} loads with {({k: sorted(v) for k, v in keys.items() if v})}")
        return model.eval(), keys

    print(f"base {args.base}\nadapter {args.adapter}\nmerged {args.merged}")
    base, base_keys = load(args.base)
    with torch.no_grad():
        close("base logits (transformers vs LoRA Lab)", base(input_ids=ids).logits, ours["base"], TOL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        peft_model = PeftModel.from_pretrained(base, args.adapter).eval()
    key_warnings = [str(w.message) for w in caught if "missing" in str(w.message).lower() or "unexpected" in str(w.message).lower()]
    if key_warnings:
        failures.append("PeftModel.from_pretrained warned about keys")
        print("  FAIL PeftModel.from_pretrained:", key_warnings)
    cfg = json.loads((Path(args.adapter) / "adapter_config.json").read_text())
    print(f"  adapter: r={cfg['r']} alpha={cfg['lora_alpha']} rslora={cfg['use_rslora']} dora={cfg['use_dora']} targets={cfg['target_modules']} fan_in_fan_out={cfg['fan_in_fan_out']}")
    if cfg["use_dora"]:
        # PeftModel.from_pretrained must have put LoRA Lab's magnitudes in place (a missing key would leave ‖W‖ there).
        with safe_open(str(Path(args.adapter) / "adapter_model.safetensors"), "pt") as st_a:
            mags = {k: st_a.get_tensor(k) for k in st_a.keys() if k.endswith(".lora_magnitude_vector")}
        params = dict(peft_model.named_parameters())
        loaded = sum(torch.equal(params[k.replace(".lora_magnitude_vector", ".lora_magnitude_vector.default.weight")], v) for k, v in mags.items())
        ok = mags and loaded == len(mags)
        print(f"  {'ok' if ok else 'FAIL'} DoRA: {loaded} of {len(mags)} lora_magnitude_vector tensors loaded by PEFT bit for bit")
        if not ok:
            failures.append("DoRA magnitudes not loaded")
    with torch.no_grad():
        adapter_logits = peft_model(input_ids=ids).logits
    close("adapter logits (PeftModel.from_pretrained vs LoRA Lab)", adapter_logits, ours["adapter"], TOL)

    merged, _ = load(args.merged, like=base_keys)
    with torch.no_grad():
        merged_logits = merged(input_ids=ids).logits
    close("merged logits (AutoModelForCausalLM.from_pretrained(merged) vs LoRA Lab)", merged_logits, ours["merged"], TOL)

    # merged ≈ adapter: exact up to float32 for F32 bases; F16/BF16 merged weights are rounded.
    dtypes = set()
    for f in sorted(Path(args.merged).glob("*.safetensors")):
        with safe_open(str(f), "pt") as st:
            dtypes |= {str(st.get_slice(k).get_dtype()) for k in st.keys()}
    unit = 2.0 ** -8 if "BF16" in dtypes else 2.0 ** -11 if "F16" in dtypes else 0.0
    tol = TOL if unit == 0 else 1e-3 + 8 * unit * adapter_logits.abs().max().item()
    close("merged vs adapter logits (PyTorch)", merged_logits, adapter_logits, tol)

    # `lora-lab eval --json` scores vs the same scores computed here (input_ids rows: every token but the first carries loss).
    rows = [json.loads(l)["input_ids"] for l in Path(args.data).read_text().splitlines() if l.strip()]
    for role, model in (("base", None), ("adapter", peft_model), ("merged", merged)):
        nll, correct, n = 0.0, 0, 0
        for r in rows:
            x = torch.tensor([r])
            with torch.no_grad():
                if role == "base":
                    with peft_model.disable_adapter():
                        logits = peft_model(input_ids=x).logits[0, :-1]
                else:
                    logits = model(input_ids=x).logits[0, :-1]
            nll += F.cross_entropy(logits, x[0, 1:], reduction="sum").item()
            correct += (logits.argmax(-1) == x[0, 1:]).sum().item()
            n += len(r) - 1
        got = report[role]
        ok = abs(got["loss"] - nll / n) <= TOL and got["tokens"] == n and abs(got["accuracy"] * n - correct) <= 1
        print(f"  {'ok' if ok else 'FAIL'} eval --json {role}: loss {got['loss']:.6f} vs {nll / n:.6f}, accuracy {got['accuracy']:.4f} vs {correct / n:.4f}, tokens {got['tokens']} vs {n}")
        if not ok:
            failures.append(f"eval {role}")
    # LoRA Lab's merged weights vs PEFT's merge_and_unload() (last: it merges peft_model in place), rounded to each tensor's stored dtype.
    # Error in units in the last place of the largest magnitude involved: base weight, result, or
    # scale·|B|·|A| (float32 sums of the r products round at that scale; where W + ΔW cancels to ~0
    # the operands set the error, not the tiny result).
    peft_merged = peft_model.merge_and_unload().state_dict()
    scaling = cfg["lora_alpha"] / (cfg["r"] ** 0.5 if cfg["use_rslora"] else cfg["r"])
    worst_ulps, changed = 0.0, 0
    mantissa = {torch.float32: 23, torch.float16: 10, torch.bfloat16: 7}
    with safe_open(str(Path(args.adapter) / "adapter_model.safetensors"), "pt") as st_a:
        for f in sorted(Path(args.merged).glob("*.safetensors")):
            with safe_open(str(f), "pt") as st_m, safe_open(str(Path(args.base) / f.name), "pt") as st_b:
                for k in st_m.keys():
                    ours_t, base_t = st_m.get_tensor(k), st_b.get_tensor(k)
                    if torch.equal(ours_t, base_t):
                        continue
                    changed += 1
                    full = k if k in peft_merged else f"transformer.{k}"
                    exact = peft_merged[full].float()
                    module = f"base_model.model.{full[: -len('.weight')]}"
                    bound = scaling * (st_a.get_tensor(f"{module}.lora_B.weight").abs() @ st_a.get_tensor(f"{module}.lora_A.weight").abs())
                    if bound.shape != exact.shape:
                        bound = bound.T  # GPT-2 Conv1D stores (in, out)
                    scale = torch.maximum(torch.maximum(exact.abs(), base_t.float().abs()), bound).clamp_min(2.0 ** -30)
                    ulp = torch.exp2(torch.floor(torch.log2(scale)) - mantissa[ours_t.dtype])
                    err = (ours_t.float() - exact.to(ours_t.dtype).float()).abs() / ulp
                    worst_ulps = max(worst_ulps, err.max().item())
    ok = changed > 0 and worst_ulps <= 8
    print(f"  {'ok' if ok else 'FAIL'} merged weights vs PEFT merge_and_unload (rounded to the stored dtype): {changed} tensors changed, worst {worst_ulps:.2f} ulp")
    if not ok:
        failures.append("merged weights differ from PEFT's merge_and_unload")

    if report.get("mergeCheck", {}).get("flagged"):
        failures.append("LoRA Lab flagged its own merge")
    if failures:
        print("INTEROP FAILED:", "; ".join(failures))
        return 1
    print("interop ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
