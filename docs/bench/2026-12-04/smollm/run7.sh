#!/bin/bash
# Alternating session: native parts/profile for smollm-135m and distilgpt2, PyTorch smollm-135m and distilgpt2.
cd /work/main
O=docs/bench/2026-12-04/smollm
export TF_ENABLE_ONEDNN_OPTS=1
r() { local name=$1; shift; echo "== $(date -u +%T) start $name (load $(cut -d' ' -f1-3 /proc/loadavg))" >> $O/session.log; /usr/bin/time -v "$@" > $O/$name.txt 2> $O/$name.err; echo "== $(date -u +%T) end $name rc=$?" >> $O/session.log; grep -E "User time|System time|Elapsed|Maximum resident" $O/$name.err >> $O/session.log; }
while kill -0 3567 2>/dev/null; do sleep 2; done
r sweep-native-1 node docs/bench/2026-12-04/smollm/sweep-probe.js
r sweep-torch-1 .venv-interop/bin/python docs/bench/2026-12-04/smollm/sweep_probe_torch.py
TF_NUM_INTRAOP_THREADS=1 r sweep-native-1-intraop1 node docs/bench/2026-12-04/smollm/sweep-probe.js
echo "== done7" >> $O/session.log
