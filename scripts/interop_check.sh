#!/usr/bin/env bash
# `npm run test:interop`: LoRA Lab's outputs checked against the real Python stack.
#  1. a venv (default .venv-interop; LORA_LAB_INTEROP_VENV overrides) with the torch, transformers,
#     peft and safetensors pinned in scripts/requirements-ref.txt (skipped when already installed);
#  2. with the built CLI: train a short adapter on fixture models, merge it, and eval --json;
#  3. scripts/interop_check.py loads the adapter with PeftModel.from_pretrained and the merged
#     folder with AutoModelForCausalLM.from_pretrained and compares logits, weights and scores with
#     LoRA Lab's own (test/interop/dump_logits.ts);
#  4. `lora-lab export --to trl` of a short run on samples/model: the bundle's train.py, run with the
#     venv's python, sees the same validation tokens (its base loss equals eval.json's within 1e-4
#     relative), trains 2 steps on the CPU in one process and through launch.sh (accelerate launch,
#     2 processes, DDP over gloo), and its adapters load with PEFT; `lora-lab import` brings the
#     2-process output back as a run listed beside the local one (source trl). train.py's batch table
#     (batch_split over WORLD_SIZE 1..16) equals the manifest's (scripts/interop_bundle_checks.py);
#     the accelerate/*.yaml configs pass accelerate's own launcher and build the FSDP2 / ZeRO-2 plugins;
#     a run trained with --loraplus-lr-ratio 16, exported, trains a step whose optimizer holds
#     lora_B at 16 x lora_A's rate (PEFT's create_loraplus_optimizer); a run trained with
#     --init pissa_niter_4, exported, trains a step and saves adapter/ in PEFT's converted form (rank 2r).
#     Parts 2–3 include PiSSA (gpt2-tiny) and OLoRA (llama) runs, whose converted adapter/ PEFT loads on the original base.
#  5. DoRA (--dora): a GPT-2 (Conv1D, with lora_dropout) and a BF16 Llama adapter trained with PEFT's
#     use_dora, checked as in 2-3 (PeftModel.from_pretrained loads the lora_magnitude_vector keys).
# LORA_LAB_INTEROP_ONLY=export runs part 4 only, LORA_LAB_INTEROP_ONLY=dora part 5 only (the venv
# and the build still come first).
# Needs python3 (3.10+) and PyPI; prints the time each part took.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
VENV="${LORA_LAB_INTEROP_VENV:-.venv-interop}"
PYTHON="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" scripts/interop_check.py --check-versions >/dev/null 2>&1; then
  echo "interop: using $VENV (pinned versions present)"
elif [ -x "$VENV/bin/python" ]; then
  # A venv from before a pin was added (e.g. trl, datasets): install what is missing or differs (pip cache works offline).
  echo "interop: updating $VENV to scripts/requirements-ref.txt"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-ref.txt
  "$VENV/bin/python" scripts/interop_check.py --check-versions
else
  echo "interop: creating $VENV and installing scripts/requirements-ref.txt (torch is large: this takes a while once)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-ref.txt
  "$VENV/bin/python" scripts/interop_check.py --check-versions
fi
t_venv=$((SECONDS - t0))

npm run --silent build >/dev/null
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
CLI=(node bin/lora-lab.js)

# Seeded input_ids rows of one length (the logit dump batches them without padding).
make_data() { # file rows vocab seed
  node -e '
    const [file, rows, vocab, seed] = process.argv.slice(1);
    let s = Number(seed);
    const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) % Number(vocab);
    const lines = Array.from({ length: Number(rows) }, () => JSON.stringify({ input_ids: Array.from({ length: 16 }, next) }));
    require("fs").writeFileSync(file, lines.join("\n") + "\n");' "$1" "$2" "$3" "$4"
}

failed=0
run_case() { # name base-fixture vocab train-flags...
  local name="$1" base="test/fixtures/$2" vocab="$3"
  shift 3
  local t=$SECONDS dir="$WORK/$name"
  mkdir -p "$dir"
  echo "== $name ($base)"
  make_data "$dir/train.jsonl" 48 "$vocab" 11
  make_data "$dir/valid.jsonl" 6 "$vocab" 12
  "${CLI[@]}" train --model "$base" --data "$dir/train.jsonl" --valid "$dir/valid.jsonl" --workspace "$dir" \
    --max-steps 12 --batch 4 --lr 2e-2 --backend wasm --json "$@" >"$dir/events.jsonl"
  local adapter
  adapter="$(node -e 'const ev = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
    const a = ev.find((e) => e.type === "adapter"); if (!a) { console.error(JSON.stringify(ev.at(-1))); process.exit(1); } console.log(a.dir);' "$dir/events.jsonl")"
  "${CLI[@]}" merge --model "$base" --adapter "$adapter" --out "$dir/merged"
  "${CLI[@]}" eval --model "$base" --adapter "$adapter" --merged "$dir/merged" --data "$dir/valid.jsonl" --backend wasm --prompts 2 --max-new-tokens 8 --json >"$dir/eval.json"
  npx vite-node test/interop/dump_logits.ts -- "$base" "$adapter" "$dir/merged" "$dir/valid.jsonl" "$dir/logits.json"
  if ! "$VENV/bin/python" scripts/interop_check.py --base "$base" --adapter "$adapter" --merged "$dir/merged" \
    --logits "$dir/logits.json" --eval "$dir/eval.json" --data "$dir/valid.jsonl"; then
    failed=1
  fi
  echo "   ($((SECONDS - t)) s)"
}

ONLY="${LORA_LAB_INTEROP_ONLY:-}"
if [ "$ONLY" != export ] && [ "$ONLY" != dora ]; then
run_case gpt2 gpt2-tiny 96 --rank 4 --alpha 8 --targets c_attn,c_proj
run_case gpt2-bare gpt2-tiny-bare 96 --rank 2 --alpha 4 --targets c_fc
run_case llama-bf16 llama-tiny-gqa-bf16 128 --rank 4 --alpha 6 --rslora --targets all-linear
run_case mistral-f16-sharded mistral-tiny-f16-sharded 112 --rank 3 --alpha 16 --targets q_proj,v_proj,down_proj
# PiSSA / OLoRA (issue 18 item 2): trained on the residual base; adapter/ is PEFT's converted form (rank 2r),
# so PeftModel.from_pretrained on the original base must give LoRA Lab's logits.
run_case gpt2-pissa gpt2-tiny 96 --rank 4 --alpha 8 --targets c_attn,c_proj --init pissa
run_case llama-olora llama-tiny-gqa-bf16 128 --rank 4 --alpha 6 --targets q_proj,k_proj,down_proj --init olora
fi
# DoRA (issue 18 item 1): PEFT use_dora adapters trained here, with lora_dropout on GPT-2's Conv1D and on a BF16 Llama.
if [ "$ONLY" != export ]; then
run_case gpt2-dora gpt2-tiny 96 --rank 4 --alpha 8 --targets c_attn,c_proj --dropout 0.1 --dora
run_case llama-bf16-dora llama-tiny-gqa-bf16 128 --rank 4 --alpha 6 --targets q_proj,v_proj,down_proj --dora
fi
if [ "$ONLY" = dora ]; then
  echo "interop: venv ${t_venv} s, checks $((SECONDS - t0 - t_venv)) s (DoRA only)"
  if [ "$failed" -ne 0 ]; then
    echo "interop: FAILED"
    exit 1
  fi
  echo "interop: all checks passed"
  exit 0
fi

# A 2-step run on the sample model and dataset (wasm, batch 4, max_seq_len 64, plus the flags given),
# exported to DIR/bundle; prints the run folder, fails when the run did not complete.
train_and_export() { # dir train-flags...
  local dir="$1" run
  shift
  "${CLI[@]}" train --model samples/model --data samples/datasets/devil/train.jsonl --workspace "$dir" \
    --max-steps 2 --batch 4 --max-seq-len 64 --backend wasm --json "$@" >"$dir/events.jsonl"
  run="$(node -e 'const ev = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
    const f = ev.find((e) => e.type === "finished"); if (!f || f.status !== "completed") { console.error(JSON.stringify(ev.at(-1))); process.exit(1); } console.log(f.runDir);' "$dir/events.jsonl")"
  "${CLI[@]}" export --run "$run" --to trl --out "$dir/bundle" >&2
  echo "$run"
}

# Export to TRL (issue 17): a short run on the sample model and dataset (prompt/completion, sibling
# valid.jsonl), exported; the bundle's train.py must see the same validation tokens as LoRA Lab.
export_case() {
  local t=$SECONDS dir="$WORK/export"
  mkdir -p "$dir"
  echo "== export to TRL (samples/model, samples/datasets/devil)"
  local run
  run="$(train_and_export "$dir" --grad-accum 2)"
  # python3 alone (no torch): train.py's WORLD_SIZE lookup against the plan's table in the manifest.
  "$PYTHON" scripts/interop_bundle_checks.py --bundle "$dir/bundle" --batch-table || failed=1
  # The FSDP / DeepSpeed configs as the pinned accelerate's launcher reads them (no GPU needed to read them).
  "$VENV/bin/python" scripts/interop_bundle_checks.py --bundle "$dir/bundle" --accelerate-configs || failed=1
  if ! "$VENV/bin/python" scripts/interop_check.py --export-bundle "$dir/bundle" --eval "$run/eval.json" --train-steps 2; then
    failed=1
  fi
  # lora-lab import: the 2-process output comes back as a completed run with source trl, listed
  # beside the local run (listRuns), its rows decoded and its adapter the bytes train.py saved.
  local ti=$SECONDS
  if "${CLI[@]}" import "$dir/bundle/interop-output-2" --workspace "$dir" --json >"$dir/import.json" && node -e '
    const fs = require("fs"), path = require("path");
    const [file, src, outDir] = process.argv.slice(1);
    const { runDir, record } = JSON.parse(fs.readFileSync(file, "utf8"));
    const runs = fs.readdirSync(path.dirname(runDir)).map((d) => JSON.parse(fs.readFileSync(path.join(path.dirname(runDir), d, "run.json"), "utf8")));
    const listed = runs.find((r) => r.id === path.basename(runDir));
    const same = (f) => fs.readFileSync(path.join(runDir, "adapter", f)).equals(fs.readFileSync(path.join(outDir, "adapter", f)));
    const rows = fs.readFileSync(path.join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map(JSON.parse);
    const ok = listed && listed.status === "completed" && listed.source === "trl" && record.imported.cluster.worldSize === 2 &&
      runs.some((r) => r.id === path.basename(src) && r.source === undefined) && same("adapter_model.safetensors") && same("adapter_config.json") &&
      rows.filter((r) => r.type === "step").length === 2;
    console.log(`  ${ok ? "ok" : "FAIL"} lora-lab import interop-output-2: run ${path.basename(runDir)} listed (status ${listed && listed.status}, source ${listed && listed.source}, world size ${record.imported.cluster.worldSize}), ${rows.length} metrics rows, adapter bytes identical`);
    process.exit(ok ? 0 : 1);' "$dir/import.json" "$run" "$dir/bundle/interop-output-2"; then
    echo "   (import $((SECONDS - ti)) s)"
  else
    failed=1
  fi
  echo "   ($((SECONDS - t)) s)"
}
export_case

# LoRA+ in the exported train.py: a 2-step run trained with --loraplus-lr-ratio 16, exported; one
# train.py step on the CPU, whose optimizer groups (printed by train.py) hold B at 16 x A's rate.
loraplus_case() {
  local t=$SECONDS dir="$WORK/export-loraplus"
  mkdir -p "$dir"
  echo "== export to TRL with LoRA+ (--loraplus-lr-ratio 16)"
  local run
  run="$(train_and_export "$dir" --loraplus-lr-ratio 16)"
  "$VENV/bin/python" scripts/interop_bundle_checks.py --bundle "$dir/bundle" --loraplus 16 --steps 1 || failed=1
  echo "   ($((SECONDS - t)) s)"
}
loraplus_case
# PiSSA in the exported train.py: a 2-step run trained with --init pissa, exported; one train.py step on
# the CPU saves adapter-init/ before training and adapter/ converted (rank 2r, init_lora_weights true,
# lora_A = [A | A0], lora_B = [B | -B0]) as LoRA Lab's own adapter/ is, loadable on the original base.
pissa_export_case() {
  local t=$SECONDS dir="$WORK/export-pissa"
  mkdir -p "$dir"
  echo "== export to TRL with PiSSA (--init pissa_niter_4)"
  local run
  run="$(train_and_export "$dir" --rank 4 --alpha 8 --init pissa_niter_4)"
  if ! "$VENV/bin/python" "$dir/bundle/train.py" --max-steps 1 --output-dir "$dir/out" >"$dir/train.log" 2>&1; then
    tail -5 "$dir/train.log"; failed=1
  elif ! "$VENV/bin/python" - "$dir/out" "$dir/bundle/lora-lab-bundle.json" <<'PY'
import json, sys, torch
from pathlib import Path
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM
out = Path(sys.argv[1])
cfg = json.loads((out / "adapter" / "adapter_config.json").read_text())
init = load_file(out / "adapter-init" / "adapter_model.safetensors")
conv = load_file(out / "adapter" / "adapter_model.safetensors")
ok = cfg["r"] == 8 and cfg["lora_alpha"] == 16 and cfg["init_lora_weights"] is True
for k, v in conv.items():
    k0 = k
    if "lora_A" in k:
        ok &= v.shape[0] == 8 and torch.equal(v[4:], init[k0])
    else:
        ok &= v.shape[1] == 8 and torch.equal(v[:, 4:], -init[k0])
base = AutoModelForCausalLM.from_pretrained(json.loads(Path(sys.argv[2]).read_text())["baseModel"], dtype=torch.float32)
PeftModel.from_pretrained(base, out / "adapter")
print(f"  {'ok' if ok else 'FAIL'} train.py --init pissa_niter_4: adapter/ converted (r {cfg['r']}, alpha {cfg['lora_alpha']}, {len(conv)} tensors = [trained | initial]), loads on the original base")
sys.exit(0 if ok else 1)
PY
  then
    failed=1
  fi
  echo "   ($((SECONDS - t)) s)"
}
pissa_export_case
# The same initial-loss check for each data format (prompt/completion, messages, text, input_ids, .txt): --check-only only.
bash scripts/interop_export_formats.sh "$VENV" "$WORK/formats" || failed=1

echo "interop: venv ${t_venv} s, checks $((SECONDS - t0 - t_venv)) s, total $((SECONDS - t0)) s"
if [ "$failed" -ne 0 ]; then
  echo "interop: FAILED"
  exit 1
fi
echo "interop: all checks passed"
