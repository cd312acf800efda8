"""Checks of a `lora-lab export --to trl` bundle's train.py (issue 17; run by scripts/interop_check.sh).

    python3 scripts/interop_bundle_checks.py --bundle DIR --batch-table
        Python only, no torch: train.py imported as a module (its heavy imports are inside main).
        For WORLD_SIZE 1..16 and every world size of the manifest, batch_split returns the row of
        lora-lab-bundle.json's batchSplits (trlPlan.ts microBatchPlan: the one split rule), with
        micro x accumulation x world = the effective batch; any other WORLD_SIZE (and a non-number)
        exits with a message naming the world sizes that fit.

    python scripts/interop_bundle_checks.py --bundle DIR --accelerate-configs
        With the interop venv, no GPU: each accelerate/*.yaml read by the pinned accelerate's own
        launcher (launch_command_parser + _validate_launch_command, as `accelerate launch` does), every
        key of its fsdp_config / deepspeed_config a launcher option (accelerate copies unknown ones
        silently), the distributed type as named; then the FSDP and DeepSpeed plugins built from the
        environment the launcher prepares: FSDP2, transformer-layer wrapping from the model's
        _no_split_modules, FULL_STATE_DICT (the Trainer's save_model writes the adapter only with it),
        CPU-RAM-efficient loading; ZeRO stage 2 without offload, gradient accumulation and clipping
        "auto" (the Trainer fills them from SFTConfig). deepspeed itself is not needed for this.

    python scripts/interop_bundle_checks.py --bundle DIR --loraplus RATIO [--steps N]
        With the interop venv: `train.py --max-steps N` in one process on the CPU (default 1 step).
        The optimizer train.py builds (PEFT's create_loraplus_optimizer over the Trainer's AdamW)
        holds every lora_A tensor at the run's learning rate and every lora_B tensor at RATIO x it
        (relative 1e-12), none mixed, both with the run's weight decay, as many B tensors as A; the
        run's metrics.jsonl has N step rows.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path


def load_train_py(bundle: Path):
    spec = importlib.util.spec_from_file_location("bundle_train", bundle / "train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def check_batch_table(bundle: Path) -> list:
    """train.py's batch_split against the manifest's batchSplits, WORLD_SIZE 1..16 and every listed one."""
    manifest = json.loads((bundle / "lora-lab-bundle.json").read_text())
    effective = manifest["effectiveBatch"]
    want = {r["world"]: (r["micro"], r["accumulation"]) for r in manifest["batchSplits"]}
    train = load_train_py(bundle)
    failures = []
    worlds = sorted(set(range(1, 17)) | set(want))
    for world in worlds:
        try:
            got = train.batch_split({"WORLD_SIZE": str(world)})
        except SystemExit as e:
            got = str(e)
        if world in want:
            ok = got == (world, *want[world]) and got[1] * got[2] * world == effective
        else:
            ok = isinstance(got, str) and f"WORLD_SIZE={world} " in got and str(sorted(want)) in got
        if not ok:
            failures.append(f"WORLD_SIZE={world}: train.py {got!r}, manifest {want.get(world)}")
    try:
        train.batch_split({"WORLD_SIZE": "two"})
        failures.append("WORLD_SIZE=two accepted")
    except SystemExit as e:
        if "'two' is not a whole number" not in str(e):
            failures.append(f"WORLD_SIZE=two: {e}")
    fits = ", ".join(f"{w}: {m}x{a}" for w, (m, a) in sorted(want.items()))
    print(f"  {'ok' if not failures else 'FAIL'} train.py batch_split = the manifest's batchSplits for WORLD_SIZE {worlds[0]}..{worlds[-1]} "
          f"(effective batch {effective}; {fits}; others refused naming them){'' if not failures else ': ' + '; '.join(failures)}")
    return failures


def check_accelerate_configs(bundle: Path) -> list:
    """accelerate/*.yaml as the pinned accelerate's launcher reads them, and the plugins its environment builds."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import DeepSpeedPlugin, FullyShardedDataParallelPlugin
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env
    from torch.distributed.fsdp.fully_sharded_data_parallel import StateDictType

    import yaml

    failures = []
    known = set(vars(launch_command_parser().parse_args(["x.py"])))
    want = {"single_gpu": (False, False, False), "multi_gpu": (True, False, False), "fsdp": (False, True, False), "deepspeed_zero2": (False, False, True)}
    seen = []
    for name, (multi, fsdp, ds) in want.items():
        path = bundle / "accelerate" / f"{name}.yaml"
        raw = yaml.safe_load(path.read_text())
        sub = {**{(k if k.startswith("fsdp") else f"fsdp_{k}"): v for k, v in raw.get("fsdp_config", {}).items()}, **raw.get("deepspeed_config", {})}
        unknown = sorted(k for k in sub if k not in known)
        if unknown:
            failures.append(f"{path}: {unknown} are not accelerate launch options (ignored silently)")
        launch = ["--config_file", str(path), "--num_processes", "8", "--num_machines", "1", "--machine_rank", "0", "--main_process_ip", "127.0.0.1", "--main_process_port", "29500", str(bundle / "train.py")]
        args, defaults, mixed_from_config = _validate_launch_command(launch_command_parser().parse_args(launch))
        got = (bool(args.multi_gpu), bool(args.use_fsdp), bool(args.use_deepspeed))
        if got != (multi, fsdp, ds) or args.cpu:
            failures.append(f"{path}: launcher reads multi_gpu/fsdp/deepspeed {got}, cpu {args.cpu}; want {(multi, fsdp, ds)} on GPUs")
        saved = dict(os.environ)
        try:
            if fsdp:
                os.environ.update(prepare_multi_gpu_env(args))
                p = FullyShardedDataParallelPlugin()
                fields = (p.fsdp_version, p.state_dict_type, p.cpu_ram_efficient_loading, p.reshard_after_forward, p.auto_wrap_policy.__name__, p.transformer_cls_names_to_wrap)
                if fields != (2, StateDictType.FULL_STATE_DICT, True, True, "transformer_auto_wrap_policy", None):
                    failures.append(f"{path}: FSDP plugin {fields}")
                seen.append(f"fsdp: FSDP{p.fsdp_version} {p.state_dict_type.name} wrap=_no_split_modules")
            elif ds:
                args.deepspeed_fields_from_accelerate_config = ",".join(list(defaults.deepspeed_config) + (["mixed_precision"] if mixed_from_config else []))
                os.environ.update(prepare_deepspeed_cmd_env(args)[1])
                c = DeepSpeedPlugin().deepspeed_config
                z = c["zero_optimization"]
                fields = (z["stage"], z["offload_optimizer"]["device"], z["offload_param"]["device"], c["gradient_accumulation_steps"], c["gradient_clipping"], c["train_micro_batch_size_per_gpu"])
                if fields != (2, "none", "none", "auto", "auto", "auto"):
                    failures.append(f"{path}: DeepSpeed config {fields}")
                seen.append(f"deepspeed_zero2: stage {z['stage']}, accumulation/clipping/micro-batch auto")
            else:
                seen.append(name)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    print(f"  {'ok' if not failures else 'FAIL'} accelerate/*.yaml through accelerate's launcher: {'; '.join(seen)}{'' if not failures else ': ' + '; '.join(failures)}")
    return failures


def check_loraplus(bundle: Path, ratio: float, steps: int) -> list:
    """One short train.py run: the LoRA+ groups it prints, checked against the run's rate, ratio and weight decay."""
    train = load_train_py(bundle)
    lr, wd = train.SFT["learning_rate"], train.SFT["weight_decay"]
    failures = []
    if train.LORAPLUS_LR_RATIO != ratio:
        failures.append(f"train.py LORAPLUS_LR_RATIO {train.LORAPLUS_LR_RATIO} != {ratio}")
    out_dir = bundle / "interop-loraplus"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "WORLD_SIZE": "1"}
    out = subprocess.run([sys.executable, str(bundle / "train.py"), "--max-steps", str(steps), "--output-dir", str(out_dir)], capture_output=True, text=True, env=env)
    line = next((l for l in out.stdout.splitlines() if l.startswith('{"loraplus"')), None)
    if out.returncode != 0 or line is None:
        print(out.stdout[-2000:], out.stderr[-4000:])
        return failures + [f"train.py --max-steps {steps} failed or printed no loraplus line (rc {out.returncode})"]
    groups = json.loads(line)["loraplus"]["groups"]
    a = [g for g in groups if "lora_A" in g["kinds"]]
    b = [g for g in groups if "lora_B" in g["kinds"]]
    close = lambda x, y: abs(x - y) <= 1e-12 * abs(y)
    if not a or not b:
        failures.append(f"no lora_A or no lora_B group: {groups}")
    if any("lora_B" in g["kinds"] for g in a):
        failures.append(f"lora_A and lora_B in one group: {groups}")
    if not all(close(g["lr"], lr) for g in a):
        failures.append(f"lora_A groups' lr {[g['lr'] for g in a]} != learning_rate {lr}")
    if not all(close(g["lr"], ratio * lr) for g in b):
        failures.append(f"lora_B groups' lr {[g['lr'] for g in b]} != {ratio} x {lr}")
    if not all(close(g["weight_decay"], wd) or g["weight_decay"] == wd for g in a + b):
        failures.append(f"weight decay {[g['weight_decay'] for g in a + b]} != the run's {wd}")
    if sum(g["tensors"] for g in a) != sum(g["tensors"] for g in b):
        failures.append(f"{sum(g['tensors'] for g in a)} lora_A tensors but {sum(g['tensors'] for g in b)} lora_B")
    rows = [json.loads(l) for l in (out_dir / "metrics.jsonl").read_text().splitlines() if l.strip()]
    if [r["step"] for r in rows if r["type"] == "step"] != list(range(1, steps + 1)):
        failures.append(f"metrics.jsonl step rows {[r['step'] for r in rows if r['type'] == 'step']}")
    shown = ", ".join(f"{'+'.join(g['kinds'])} x{g['tensors']} lr {g['lr']:g}" for g in groups)
    print(f"  {'ok' if not failures else 'FAIL'} train.py LoRA+ (ratio {ratio:g}, lr {lr:g}): optimizer groups {shown}; B = ratio x A"
          f"{'' if not failures else ': ' + '; '.join(failures)}")
    return failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True, type=Path)
    ap.add_argument("--batch-table", action="store_true")
    ap.add_argument("--accelerate-configs", action="store_true")
    ap.add_argument("--loraplus", type=float)
    ap.add_argument("--steps", type=int, default=1)
    args = ap.parse_args()
    if not (args.bundle / "lora-lab-bundle.json").exists():
        sys.exit(f"{args.bundle}: no lora-lab-bundle.json; pass the folder `lora-lab export --to trl` wrote.")
    failures = []
    if args.batch_table:
        failures += check_batch_table(args.bundle)
    if args.accelerate_configs:
        failures += check_accelerate_configs(args.bundle)
    if args.loraplus is not None:
        failures += check_loraplus(args.bundle, args.loraplus, args.steps)
    if failures:
        print("BUNDLE CHECKS FAILED:", "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
