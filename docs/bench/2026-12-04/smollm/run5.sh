#!/bin/bash
# Alternating session: native parts/profile for smollm-135m and distilgpt2, PyTorch smollm-135m and distilgpt2.
cd /work/main
O=docs/bench/2026-12-04/smollm
export TF_ENABLE_ONEDNN_OPTS=1
r() { local name=$1; shift; echo "== $(date -u +%T) start $name (load $(cut -d' ' -f1-3 /proc/loadavg))" >> $O/session.log; /usr/bin/time -v "$@" > $O/$name.txt 2> $O/$name.err; echo "== $(date -u +%T) end $name rc=$?" >> $O/session.log; grep -E "User time|System time|Elapsed|Maximum resident" $O/$name.err >> $O/session.log; }
while kill -0 3303 2>/dev/null; do sleep 2; done
r torch-profile-smollm-135m .venv-interop/bin/python docs/bench/2026-12-04/smollm/torch_profile.py smollm-135m
r torch-profile-distilgpt2 .venv-interop/bin/python docs/bench/2026-12-04/smollm/torch_profile.py distilgpt2
echo "== done5" >> $O/session.log
