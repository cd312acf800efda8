#!/usr/bin/env bash
# `npm run test:e2e`: the extension, packaged as a .vsix, in a real VS Code (code-server) driven by
# headless Chromium. Steps:
#   1. scripts/e2e/setup.sh: Debian packages + code-server in a cache outside the project (once);
#   2. `npm run package` (the binding if missing, then `vsce package --target linux-x64`, whose
#      vscode:prepublish runs `npm run build`) → out/e2e/lora-lab.vsix;
#   3. tsc compiles the integration suite (test/integration → out/integration); esbuild bundles
#      test/e2e/*.e2e.ts → out/e2e/*.e2e.test.mjs (playwright-core stays external);
#   4. node runs each (node:test), one after the other, each with an isolated profile and
#      code-server on a free port, killed by its process group at the end:
#      - lora-lab.e2e.ts: the user's scenarios (Command Palette, explorer context menu, results panel,
#        Set Up Native Backend… then a run on native TensorFlow);
#      - integration-suite.e2e.ts: the @vscode/test-electron suite inside code-server's extension host.
#      Screenshots go to test-output/e2e/.
# Environment: LORA_LAB_E2E_CACHE (code-server cache root), E2E_KEEP=1 (keep the temp profile),
# LORA_LAB_E2E_RUN_TIMEOUT_S (per training run, default 300).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
start=$SECONDS
say() { printf '[e2e] %s\n' "$*"; }

say "1/4 setup (Debian packages, code-server)"
CODE_SERVER_DIR="$(bash scripts/e2e/setup.sh | tail -n 1)"
say "    code-server: $CODE_SERVER_DIR ($((SECONDS - start)) s)"

OUT="$ROOT/out/e2e"
mkdir -p "$OUT" "$ROOT/test-output/e2e"
rm -f "$ROOT"/test-output/e2e/*.png "$ROOT"/test-output/e2e/*.log "$OUT"/*.vsix

t=$SECONDS
say "2/4 build and package the extension (npm run package: the linux-x64 .vsix with the native binding)"
# `npm run package` builds the tfjs-node binding first when it is missing (npm run setup:native,
# which reuses the wheel cache), then runs `vsce package --target linux-x64`.
npm run package -- --out "$OUT/lora-lab.vsix" </dev/null >"$OUT/package.log" 2>&1 || {
  cat "$OUT/package.log"
  say "packaging failed"
  exit 1
}
grep -E 'DONE' "$OUT/package.log" | sed 's/^/    /' || true
say "    packaged in $((SECONDS - t)) s; contents:"
python3 scripts/e2e/check_vsix.py "$OUT/lora-lab.vsix" "$ROOT" || { say "the .vsix does not hold what it should (see .vscodeignore)"; exit 1; }

say "3/4 compile the integration suite (test/integration) and bundle the e2e tests"
npx --no-install tsc -p test/integration
for t in lora-lab integration-suite; do
  npx --no-install esbuild "test/e2e/$t.e2e.ts" --bundle --platform=node --format=esm --target=node20 \
    --packages=external --log-level=warning --outfile="$OUT/$t.e2e.test.mjs"
done

# Each file runs on its own (one code-server and one training at a time on a 2-core machine).
pass=0
fail=0
rc=0
for t in lora-lab integration-suite; do
  say "4/4 run test/e2e/$t.e2e.ts"
  LORA_LAB_ROOT="$ROOT" LORA_LAB_CODE_SERVER="$CODE_SERVER_DIR" LORA_LAB_VSIX="$OUT/lora-lab.vsix" \
    node --test-reporter=spec "$OUT/$t.e2e.test.mjs" 2>&1 | tee "$OUT/$t.log" || rc=1
  p=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$OUT/$t.log" | tail -n 1)
  f=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$OUT/$t.log" | tail -n 1)
  pass=$((pass + ${p:-0}))
  fail=$((fail + ${f:-1}))
done
say "screenshots: $(ls "$ROOT"/test-output/e2e/*.png 2>/dev/null | wc -l) in test-output/e2e/; logs in out/e2e/ and test-output/e2e/"
say "done in $((SECONDS - start)) s"
if [ "$rc" = 0 ] && [ "$fail" != 0 ]; then rc=1; fi
echo "e2e: $pass passed, $fail failed"
exit "$rc"
