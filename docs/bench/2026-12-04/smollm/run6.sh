#!/bin/bash
# Alternating session: native parts/profile for smollm-135m and distilgpt2, PyTorch smollm-135m and distilgpt2.
cd /work/main
O=docs/bench/2026-12-04/smollm
export TF_ENABLE_ONEDNN_OPTS=1
r() { local name=$1; shift; echo "== $(date -u +%T) start $name (load $(cut -d' ' -f1-3 /proc/loadavg))" >> $O/session.log; /usr/bin/time -v "$@" > $O/$name.txt 2> $O/$name.err; echo "== $(date -u +%T) end $name rc=$?" >> $O/session.log; grep -E "User time|System time|Elapsed|Maximum resident" $O/$name.err >> $O/session.log; }
while kill -0 3410 2>/dev/null; do sleep 2; done
r elementwise-native-3-default node docs/bench/2026-12-04/smollm/elementwise-probe.js
TF_NUM_INTEROP_THREADS=1 r elementwise-native-3-interop1 node docs/bench/2026-12-04/smollm/elementwise-probe.js
TF_NUM_INTRAOP_THREADS=1 r elementwise-native-3-intraop1 node docs/bench/2026-12-04/smollm/elementwise-probe.js
TF_ENABLE_ONEDNN_OPTS=0 r elementwise-native-3-onednn0 node docs/bench/2026-12-04/smollm/elementwise-probe.js
r elementwise-torch-3 .venv-interop/bin/python docs/bench/2026-12-04/smollm/elementwise_probe_torch.py
TF_NUM_INTEROP_THREADS=1 r train-smollm-135m-4-interop1 node dist/bench.js --backend tensorflow --preset smollm-135m --json
r train-smollm-135m-5 node dist/bench.js --backend tensorflow --preset smollm-135m --json
echo "== done6" >> $O/session.log
