#!/usr/bin/env python3
"""Checks what a packaged .vsix holds: what the extension needs at run time is there, sources,
tests and local state are not. Prints a one-line summary per top-level folder.

Usage: check_vsix.py <file.vsix> <repository root>
"""
import collections
import os
import sys
import zipfile

MUST = [
    "extension/package.json",
    "extension/readme.md",
    "extension/dist/extension.js",
    "extension/dist/worker.js",
    "extension/dist/lint.js",
    "extension/dist/cli.js",
    "extension/dist/webview.js",
    "extension/bin/lora-lab.js",
    "extension/media/icon.svg",
    "extension/node_modules/@tensorflow/tfjs/package.json",
    "extension/node_modules/@tensorflow/tfjs/dist/tf.node.js",
    "extension/node_modules/@tensorflow/tfjs-core/dist/tf-core.node.js",
    "extension/node_modules/@tensorflow/tfjs-backend-cpu/dist/tf-backend-cpu.node.js",
    "extension/node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js",
    "extension/node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm",
    "extension/node_modules/@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js",
    "extension/node_modules/@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js",
    "extension/node_modules/@huggingface/tokenizers/package.json",
    "extension/node_modules/@huggingface/jinja/package.json",
    "extension/node_modules/csv-parse/package.json",
    # Native TensorFlow: the prebuilt binding and what loads it; the libraries come from PyPI on
    # the user's machine ("LoRA Lab: Set Up Native Backend…").
    "extension/node_modules/@tensorflow/tfjs-node/package.json",
    "extension/node_modules/@tensorflow/tfjs-node/dist/index.js",
    "extension/node_modules/@tensorflow/tfjs-node/lib/napi-v8/tfjs_binding.node",
    "extension/node_modules/@mapbox/node-pre-gyp/package.json",
]
MUST_NOT_PREFIXES = [
    "extension/src/", "extension/test/", "extension/scripts/", "extension/webview/", "extension/docs/",
    "extension/out/", "extension/.lora-lab/", "extension/.venv", "extension/node_modules/core-js/",
    "extension/node_modules/typescript/", "extension/node_modules/esbuild/", "extension/node_modules/vitest/",
    "extension/node_modules/playwright-core/", "extension/node_modules/@vscode/",
]
for _pkg in ("tfjs-node", "tfjs-node-gpu"):
    MUST_NOT_PREFIXES += [f"extension/node_modules/@tensorflow/{_pkg}/{d}" for d in ("deps/", "build/", "binding/", "python/", "scripts/", "src/")]


def main() -> int:
    vsix, repo = sys.argv[1], sys.argv[2]
    with zipfile.ZipFile(vsix) as z:
        infos = z.infolist()
    names = {i.filename for i in infos}
    problems = [f"missing: {m}" for m in MUST if m not in names]
    problems += [f"should not be shipped: {n}" for n in sorted(names) if any(n.startswith(p) for p in MUST_NOT_PREFIXES)][:20]
    has_sample = os.path.exists(os.path.join(repo, "samples", "model", "config.json"))
    shipped_sample = "extension/samples/model/config.json" in names
    if has_sample != shipped_sample:
        problems.append(f"samples/model is {'in' if has_sample else 'not in'} the checkout but {'in' if shipped_sample else 'not in'} the .vsix")
    target = next((i for i in infos if i.filename == "extension.vsixmanifest"), None)
    if target is not None:
        with zipfile.ZipFile(vsix) as z:
            manifest = z.read(target).decode("utf-8", "replace")
        if 'TargetPlatform="linux-x64"' not in manifest:
            problems.append("the .vsix is not targeted at linux-x64 (it carries a linux-x64 binding): vsce package --target linux-x64")
    sizes = collections.Counter()
    counts = collections.Counter()
    for i in infos:
        parts = i.filename.split("/")
        top = "/".join(parts[1:3]) if parts[0] == "extension" and len(parts) > 2 and parts[1] == "node_modules" else "/".join(parts[:2])
        sizes[top] += i.file_size
        counts[top] += 1
    print(f"    {len(infos)} files, {sum(sizes.values()) / 2**20:.1f} MiB unpacked, {os.path.getsize(vsix) / 2**20:.1f} MiB packed")
    for top, size in sizes.most_common(8):
        print(f"      {top}: {counts[top]} files, {size / 2**20:.2f} MiB")
    for p in problems:
        print(f"    PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
