#!/usr/bin/env bash
# Before/after decoding comparison, alternating engines and code versions in one session.
# dist/decode-before.js: decode.ts bundled at the commit before the change; dist/decode-after.js: after.
#   npx esbuild docs/bench/2026-12-03/decoding/decode.ts --bundle --platform=node --format=cjs \
#     --target=node20 --outfile=dist/decode-after.js --external:@tensorflow/*
set -u
for round in 1 2; do
  for be in tensorflow wasm; do
    for v in before after; do
      echo "== round $round $v $be"
      node dist/decode-$v.js "$be" gpt2,smollm-135m "$v" 2>&1 | grep -E '^(before|after) |kernels:'
    done
  done
done
