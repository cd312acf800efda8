#!/bin/bash
# Alternating session: native parts/profile for smollm-135m and distilgpt2, PyTorch smollm-135m and distilgpt2.
cd /work/main
O=docs/bench/2026-12-04/smollm
export TF_ENABLE_ONEDNN_OPTS=1
r() { local name=$1; shift; echo "== $(date -u +%T) start $name (load $(cut -d' ' -f1-3 /proc/loadavg))" >> $O/session.log; /usr/bin/time -v "$@" > $O/$name.txt 2> $O/$name.err; echo "== $(date -u +%T) end $name rc=$?" >> $O/session.log; grep -E "User time|System time|Elapsed|Maximum resident" $O/$name.err >> $O/session.log; }
while kill -0 1883 2>/dev/null; do sleep 2; done
export NODE_PATH=$PWD/node_modules
r fullprofile-1 node /tmp/fullprofile.js smollm-135m,distilgpt2
r torch-smollm-135m-3 .venv-interop/bin/python scripts/bench_torch.py --preset smollm-135m --threads 2
r train-smollm-135m-2 node dist/bench.js --backend tensorflow --preset smollm-135m --json
r fullprofile-2 node /tmp/fullprofile.js distilgpt2,smollm-135m
echo "== done3" >> $O/session.log
