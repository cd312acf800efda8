#!/usr/bin/env bash
# Issue 11, after the fused attention, the fused residual-add + norm, LoRA's rank-r kernels and the
# chunk-sharing pool: native (LoRA Lab's kernels) and PyTorch 2.15 + PEFT, alternating per round,
# each process printing its matMul peak. ROUNDS="7 8" picks the rounds; OFF=1 adds native without
# the fused kernels (LORA_LAB_FUSED_OPS=0) to each round. Raw outputs next to this file.
cd "$(dirname "$0")/../../../.."
out=docs/bench/2026-12-04/attention
P=smollm-135m,distilgpt2,gpt2
for r in ${ROUNDS:-1 2}; do
  echo "round $r native $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $out/session.log
  node dist/bench.js --backend tensorflow --preset $P > $out/native-$r.txt 2> $out/native-$r.err
  if [ -n "$OFF" ]; then
    echo "round $r native-off $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $out/session.log
    LORA_LAB_FUSED_OPS=0 node dist/bench.js --backend tensorflow --preset $P > $out/native-off-$r.txt 2> $out/native-off-$r.err
  fi
  echo "round $r torch $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $out/session.log
  .venv-interop/bin/python scripts/bench_torch.py --preset $P --threads 2 > $out/torch-$r.txt 2> $out/torch-$r.err
done
echo "done $(date +%T)" | tee -a $out/session.log
