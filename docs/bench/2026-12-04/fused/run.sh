#!/usr/bin/env bash
# Issue 11, after the fused kernels: native with LoRA Lab's fused kernels, native without them
# (LORA_LAB_FUSED_OPS=0; 2-D products as MatMul either way), PyTorch 2.15 + PEFT; two rounds,
# alternating, each process printing its matMul peak. Raw outputs next to this file.
cd "$(dirname "$0")/../../../.."
out=docs/bench/2026-12-04/fused
P=smollm-135m,distilgpt2,gpt2
for r in 1 2; do
  echo "round $r native-fused $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $out/session.log
  node dist/bench.js --backend tensorflow --preset $P > $out/native-fused-$r.txt 2> $out/native-fused-$r.err
  echo "round $r native-unfused $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $out/session.log
  LORA_LAB_FUSED_OPS=0 node dist/bench.js --backend tensorflow --preset $P > $out/native-unfused-$r.txt 2> $out/native-unfused-$r.err
  echo "round $r torch $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $out/session.log
  .venv-interop/bin/python scripts/bench_torch.py --preset $P --threads 2 > $out/torch-$r.txt 2> $out/torch-$r.err
done
echo "done $(date +%T)" | tee -a $out/session.log
