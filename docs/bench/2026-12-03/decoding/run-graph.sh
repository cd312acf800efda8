#!/usr/bin/env bash
# Round 3 (decoding graph on native): before/after, alternating engines and code versions in one
# session, then the in-process A/B (graph.ts) and the micro-probe (probe.ts) per backend.
#   dist/decode-before.js: decode.ts bundled at the commit before the graph (git worktree at e91f06c, the main branch just before the graph commit)
#   dist/decode-after.js, dist/decode-graph.js, dist/probe.js: decode.ts, graph.ts, probe.ts bundled now:
#   npx esbuild docs/bench/2026-12-03/decoding/<file>.ts --bundle --platform=node --format=cjs \
#     --target=node20 --outfile=dist/<out>.js --external:@tensorflow/*
set -u
quiet() { grep -v -E 'absl::InitializeLog|oneDNN custom operations|^$'; }
for round in 1 2 3; do
  cat /proc/loadavg
  for be in tensorflow wasm; do
    for v in before after; do
      echo "== round $round $v $be"
      node dist/decode-$v.js "$be" gpt2,smollm-135m "$v" 2>&1 | grep -E '^(before|after) '
    done
  done
done
for round in 1 2; do
  cat /proc/loadavg
  node dist/decode-graph.js tensorflow gpt2,smollm-135m 4 "ab$round" 2>&1 | quiet
  node dist/decode-graph.js wasm gpt2,smollm-135m 2 "ab$round" 2>&1 | quiet
done
for round in 1 2; do
  cat /proc/loadavg
  node dist/probe.js tensorflow all,floor,gpt2,smollm-135m "probe$round" 2>&1 | quiet
  TF_ENABLE_ONEDNN_OPTS=0 node dist/probe.js tensorflow gemv,floor "probe$round-onednn-off" 2>&1 | quiet
  node dist/probe.js wasm all,floor,gpt2,smollm-135m "probe$round" 2>&1 | quiet
done
cat /proc/loadavg
