#!/usr/bin/env bash
# Export to TRL, one data format at a time (issue 17): for each sample dataset (prompt/completion,
# messages rendered with samples/model's chat template, text, input_ids, a .txt file cut into
# windows), a 1-step run on samples/model, `lora-lab export --to trl`, then the bundle's
# `train.py --check-only` in the interop venv. Its initial_eval_loss must equal the base loss in the
# run's eval.json within 1e-4 relative, on the same number of validation examples: the two engines
# see the same tokens and loss mask for every format. Cheap: no TRL training, one line per format.
#
#   bash scripts/interop_export_formats.sh [VENV] [WORK DIR]     (run by scripts/interop_check.sh)
#
# Expects the CLI built (npm run build). The runs use LoRA Lab's fastest backend here (auto:
# native TensorFlow when set up, as in CI after test:native, else wasm); LORA_LAB_INTEROP_BACKEND
# overrides it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-${LORA_LAB_INTEROP_VENV:-.venv-interop}}"
WORK="${2:-}"
if [ -z "$WORK" ]; then
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
fi
BACKEND="${LORA_LAB_INTEROP_BACKEND:-auto}"
CLI=(node bin/lora-lab.js)
t0=$SECONDS
failed=0

check_format() { # name data-file valid-fraction max-seq-len
  local name="$1" data="$2" fraction="$3" len="$4" t=$SECONDS dir="$WORK/$1"
  mkdir -p "$dir"
  # Smallest run that still ends with eval.json: 1 step of batch 1, short examples (.txt: windows of
  # max-seq-len tokens), about 6 validation rows split off (no sibling valid.jsonl beside these files).
  if ! "${CLI[@]}" train --model samples/model --data "$data" --workspace "$dir" --runs-dir runs \
    --max-steps 1 --batch 1 --max-seq-len "$len" --valid-fraction "$fraction" --backend "$BACKEND" --json >"$dir/events.jsonl" 2>"$dir/train.err"; then
    echo "  FAIL $name: lora-lab train failed"; tail -5 "$dir/train.err"; tail -1 "$dir/events.jsonl"
    failed=1; return
  fi
  local info run fmt backend
  info="$(node -e 'const ev = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
    const f = ev.find((e) => e.type === "finished"), d = ev.find((e) => e.type === "data"), b = ev.find((e) => e.type === "backend");
    if (!f || f.status !== "completed" || !d) { console.error(JSON.stringify(ev.at(-1))); process.exit(1); }
    console.log([f.runDir, d.valid.format, b ? b.report.backend : "?"].join("\t"));' "$dir/events.jsonl")" || { echo "  FAIL $name: no completed run"; failed=1; return; }
  IFS=$'\t' read -r run fmt backend <<<"$info"
  if ! "${CLI[@]}" export --run "$run" --to trl --out "$dir/bundle" >"$dir/export.out" 2>&1; then
    echo "  FAIL $name: lora-lab export failed"; tail -5 "$dir/export.out"
    failed=1; return
  fi
  if ! CUDA_VISIBLE_DEVICES="" "$VENV/bin/python" "$dir/bundle/train.py" --check-only >"$dir/check.out" 2>"$dir/check.err"; then
    echo "  FAIL $name: train.py --check-only failed"; tail -5 "$dir/check.err"
    failed=1; return
  fi
  if ! node -e '
    const fs = require("fs");
    const [name, fmt, backend, checkOut, evalFile, secs] = process.argv.slice(1);
    const line = fs.readFileSync(checkOut, "utf8").split("\n").find((l) => l.startsWith("{"));
    const got = JSON.parse(line), report = JSON.parse(fs.readFileSync(evalFile, "utf8"));
    const want = report.base.loss, rel = Math.abs(got.initial_eval_loss - want) / Math.abs(want);
    const ok = rel <= 1e-4 && got.examples === report.examples && got.examples > 0;
    console.log(`  ${ok ? "ok  " : "FAIL"} ${name.padEnd(17)} (${fmt}, ${backend}): train.py --check-only ${got.initial_eval_loss.toFixed(9)} vs eval.json base ${want.toFixed(9)}, relative diff ${rel.toExponential(2)} (tolerance 1e-4), examples ${got.examples} vs ${report.examples} (${secs} s)`);
    process.exit(ok ? 0 : 1);' "$name" "$fmt" "$backend" "$dir/check.out" "$run/eval.json" "$((SECONDS - t))"; then
    failed=1
  fi
}

echo "== export to TRL, each data format (samples/model; train.py --check-only vs eval.json base loss)"
# samples/model's tokenizer_config.json carries a ChatML chat_template: chat.jsonl's messages render through it.
# Its longest system + user turns need 128 tokens to leave loss tokens (at 64, 7 rows keep none).
check_format prompt-completion samples/datasets/prompt_completion.jsonl 0.05 64
check_format messages samples/datasets/chat.jsonl 0.05 128
check_format text samples/datasets/text.jsonl 0.05 64
check_format input_ids samples/datasets/input_ids.jsonl 0.1 64
check_format txt samples/datasets/bible.txt 0.2 64
echo "   (formats $((SECONDS - t0)) s)"
exit "$failed"
