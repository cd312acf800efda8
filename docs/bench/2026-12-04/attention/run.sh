#!/usr/bin/env bash
# Issue 11, after the fused attention, the fused residual-add + norm, LoRA's rank-r kernels and the
# chunk-sharing pool: native (LoRA Lab's kernels) and PyTorch 2.15 + PEFT, alternating per round,
# each process printing its matMul peak. Raw outputs next to this file.
cd "$(dirname "$0")/../../../.."
out=docs/bench/2026-12-04/attention
P=smollm-135m,distilgpt2,gpt2
for r in ${ROUNDS:-1 2}; do
  echo "round $r native $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $out/session.log
  node dist/bench.js --backend tensorflow --preset $P > $out/native-$r.txt 2> $out/native-$r.err
  echo "round $r torch $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $out/session.log
  .venv-interop/bin/python scripts/bench_torch.py --preset $P --threads 2 > $out/torch-$r.txt 2> $out/torch-$r.err
done
echo "done $(date +%T)" | tee -a $out/session.log
