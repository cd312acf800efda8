#!/usr/bin/env bash
# `npm run test:native`: the engine on native TensorFlow (tfjs-node on libtensorflow 2.21 from
# PyPI). Sets it up first (`lora-lab setup-native`: reuses ~/.cache/lora-lab, so after the first
# time it costs a copy of the built binding and a load check), then
#  1. the engine's test files again with LORA_LAB_TEST_BACKEND=tensorflow (golden logits and
#     gradients vs PyTorch, options, block backward, LoRA, optimizer, KV cache, trainer, merge,
#     backend report, native-vs-wasm losses, LoRA Lab's fused kernels), the fused kernels' file again
#     on their AVX2 and SSE2 paths (LORA_LAB_OPS_LANES=8, 4), and the Llama-path files once more
#     without the fused kernels (LORA_LAB_FUSED_OPS=0);
#  2. one short `lora-lab train` on the sample with --backend tensorflow, checking that run.json
#     records the native backend and TensorFlow from the PyPI wheel.
# Linux x86_64 only (elsewhere it says so and exits 0: wasm stays the backend there).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "test:native: native TensorFlow from PyPI is set up on Linux x86_64 only; skipped on $(uname -s)-$(uname -m)"
  exit 0
fi
t0=$SECONDS
npm run --silent build >/dev/null
node bin/lora-lab.js setup-native
t_setup=$((SECONDS - t0))

FILES=(golden goldenOptions blockBackward lora optimizer generateKvCache trainer mergeFolder mergePeftAdapter backend fusedOps)
for extra in test/unit/nativeEquivalence.test.ts; do [ -f "$extra" ] && FILES+=("$(basename "$extra" .test.ts)"); done
LORA_LAB_TEST_BACKEND=tensorflow npx vitest run "${FILES[@]/#/test/unit/}"
# The kernels' narrower vector paths (AVX2: 8 lanes; SSE2: 4), as a CPU without AVX-512 runs them.
for lanes in 8 4; do LORA_LAB_OPS_LANES=$lanes LORA_LAB_TEST_BACKEND=tensorflow npx vitest run test/unit/fusedOps; done
# Native without LoRA Lab's fused kernels (a machine where they did not build): the Llama path's tfjs chains.
LORA_LAB_TEST_BACKEND=tensorflow LORA_LAB_FUSED_OPS=0 npx vitest run test/unit/golden test/unit/blockBackward test/unit/nativeEquivalence
t_tests=$((SECONDS - t0 - t_setup))

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
node bin/lora-lab.js train --model samples/model --data samples/datasets/devil/train.jsonl --backend tensorflow \
  --max-steps 12 --batch 8 --max-seq-len 96 --eval-every 6 --runs-dir "$WORK/runs" --name native-check --json > "$WORK/train.jsonl"
node -e '
  const fs = require("fs"), path = require("path");
  const runs = path.join(process.argv[1], "runs");
  const dir = path.join(runs, fs.readdirSync(runs)[0]);
  const run = JSON.parse(fs.readFileSync(path.join(dir, "run.json"), "utf8"));
  const b = run.backend || {};
  const fail = (m) => { console.error("test:native: " + m); process.exit(1); };
  if (run.status !== "completed") fail(`run status ${run.status}`);
  if (b.backend !== "tensorflow") fail(`run.json records backend ${b.backend}, not tensorflow`);
  if (!b.native || b.native.source !== "pypi-wheel") fail(`run.json does not record TensorFlow from the PyPI wheel: ${JSON.stringify(b.native)}`);
  const steps = fs.readFileSync(path.join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map(JSON.parse).filter((r) => r.type === "step");
  if (steps.length !== 12) fail(`${steps.length} step rows in metrics.jsonl, not the 12 asked for (--max-steps 12)`);
  if (!steps.every((r) => Number.isFinite(r.loss))) fail("a step row has no finite loss");
  console.log(`test:native: lora-lab train on ${b.backend} (${b.native.wheel}, ${b.threads} threads): ${run.status}, ${steps.length} steps, loss ${steps[0].loss.toFixed(3)} → ${steps[11].loss.toFixed(3)} in ${dir}`);
' "$WORK"
echo "test:native: set-up ${t_setup}s, engine tests ${t_tests}s, total $((SECONDS - t0))s"
