#!/bin/bash
# Alternating session: native parts/profile for smollm-135m and distilgpt2, PyTorch smollm-135m and distilgpt2.
cd /work/main
O=docs/bench/2026-12-04/smollm
export TF_ENABLE_ONEDNN_OPTS=1
r() { local name=$1; shift; echo "== $(date -u +%T) start $name (load $(cut -d' ' -f1-3 /proc/loadavg))" >> $O/session.log; /usr/bin/time -v "$@" > $O/$name.txt 2> $O/$name.err; echo "== $(date -u +%T) end $name rc=$?" >> $O/session.log; grep -E "User time|System time|Elapsed|Maximum resident" $O/$name.err >> $O/session.log; }
while kill -0 2875 2>/dev/null; do sleep 2; done
r elementwise-native-1 node docs/bench/2026-12-04/smollm/elementwise-probe.js
r elementwise-torch-1 .venv-interop/bin/python docs/bench/2026-12-04/smollm/elementwise_probe_torch.py
r train-smollm-135m-3 node dist/bench.js --backend tensorflow --preset smollm-135m --json
r torch-smollm-135m-4 .venv-interop/bin/python scripts/bench_torch.py --preset smollm-135m --threads 2
r train-distilgpt2-2 node dist/bench.js --backend tensorflow --preset distilgpt2 --json
r torch-distilgpt2-2 .venv-interop/bin/python scripts/bench_torch.py --preset distilgpt2 --threads 2
r elementwise-native-2 node docs/bench/2026-12-04/smollm/elementwise-probe.js
r elementwise-torch-2 .venv-interop/bin/python docs/bench/2026-12-04/smollm/elementwise_probe_torch.py
echo "== done4" >> $O/session.log
