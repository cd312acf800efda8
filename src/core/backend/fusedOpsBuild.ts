// Building LoRA Lab's fused CPU kernels (native/lora_lab_ops.cc) against a PyPI TensorFlow
// install: one g++ call (no node-gyp: an N-API module needs only node_api.h), linked to the
// install's libtensorflow_cc / libtensorflow_framework, found at run time through the same
// $ORIGIN/../../deps/lib as the tfjs-node binding. The build is kept in the native home under the
// source's hash, so an unchanged source costs a copy; an edited one is rebuilt. No TensorFlow.js
// import (the set-up CLI uses it).
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bindingFile, loraLabRoot, nodeHeaders, packageDir } from './nativeBinding';
import { includeDir, tfLibDir, wheelCacheDir, type NativeInstall, type NativeVariant } from './nativeLayout';
import { tfWheelDest } from './nativeSetup';
import { extractFromWheel } from './wheel';

export const FUSED_OPS_FILE = 'lora_lab_ops.node';

/** The headers lora_lab_ops.cc includes from the wheel (kernels.h and ops.h pull in the rest). */
export const FUSED_OPS_HEADERS = [
  'tensorflow/c/kernels.h',
  'tensorflow/c/ops.h',
  'tsl/platform/platform.h',
  'tensorflow/core/common_runtime/next_pluggable_device/c/tf_rendezvous_c_api.h',
  'tensorflow/c/experimental/stream_executor/stream_executor.h',
];

export function fusedOpsSource(root = loraLabRoot()): string {
  return path.join(root, 'native', 'lora_lab_ops.cc');
}

/** The first 16 hex digits of the source's sha256: compiled into the module (its `source`) and naming the kept build. */
export function fusedOpsSourceHash(file = fusedOpsSource()): string | undefined {
  try {
    return createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 16);
  } catch {
    return undefined;
  }
}

/** Where the module sits next to the tfjs-node binding (so a VSIX that carries one carries both). */
export function fusedOpsFile(variant: NativeVariant, root = loraLabRoot()): string {
  return path.join(path.dirname(bindingFile(packageDir(variant, root))), FUSED_OPS_FILE);
}

export function fusedOpsCachePath(home: string, install: NativeInstall, hash: string): string {
  return path.join(home, `lora-lab-ops-${hash}-tf-${install.tensorflow}-${install.variant}`, FUSED_OPS_FILE);
}

/** Headers of FUSED_OPS_HEADERS missing from an install made before they were taken out, taken from the cached wheel. */
export async function ensureFusedOpsHeaders(install: NativeInstall, log: (line: string) => void): Promise<void> {
  const missing = FUSED_OPS_HEADERS.filter((h) => !fs.existsSync(path.join(includeDir(install.root), h)));
  if (!missing.length) return;
  const wheel = path.join(wheelCacheDir(), install.wheel.filename);
  if (!fs.existsSync(wheel)) throw new Error(`the install in ${install.root} lacks ${missing.join(', ')} and the wheel is no longer in ${wheelCacheDir()}: npm run setup:native -- --force`);
  const wanted = new Set(missing.map((h) => `tensorflow/include/${h}`));
  const written = await extractFromWheel(wheel, (entry) => (wanted.has(entry) ? tfWheelDest(install.root, entry) : undefined), { required: [...wanted] });
  log(`Fused ops: ${written.length} more headers taken out of ${install.wheel.filename}`);
}

/**
 * Puts the fused-ops module next to the binding: the kept build for this source unless `force`,
 * else compiled (~10 s). Returns how it was obtained.
 */
export async function provideFusedOps(
  variant: NativeVariant, install: NativeInstall, home: string, opts: { force?: boolean; log: (line: string) => void; root?: string },
): Promise<{ built: boolean; seconds: number; file: string; hash: string }> {
  const t0 = Date.now();
  const root = opts.root ?? loraLabRoot();
  const source = fusedOpsSource(root);
  const hash = fusedOpsSourceHash(source);
  if (!hash) throw new Error(`${source} is missing`);
  const target = fusedOpsFile(variant, root);
  const kept = fusedOpsCachePath(home, install, hash);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  if (!opts.force && fs.existsSync(kept)) {
    fs.copyFileSync(kept, target);
    opts.log(`Fused ops: reused ${kept}`);
    return { built: false, seconds: (Date.now() - t0) / 1000, file: target, hash };
  }
  await ensureFusedOpsHeaders(install, opts.log);
  const headers = nodeHeaders();
  if (!headers) throw new Error(`the Node.js headers for ${process.version} (node_api.h) are missing`);
  const cxx = ['g++', 'c++'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
  if (!cxx) throw new Error('no C++ compiler (g++)');
  fs.mkdirSync(path.dirname(kept), { recursive: true });
  const out = `${kept}.tmp`;
  const args = [
    '-O3', '-std=c++17', '-shared', '-fPIC', '-pthread',
    '-DNODE_GYP_MODULE_NAME=lora_lab_ops', `-DLORA_LAB_OPS_SOURCE="${hash}"`,
    `-I${path.join(headers, 'include', 'node')}`, `-I${includeDir(install.root)}`,
    source, '-o', out,
    `-L${tfLibDir(install.root)}`, '-l:libtensorflow_cc.so.2', '-l:libtensorflow_framework.so.2',
    '-Wl,-rpath,$ORIGIN/../../deps/lib',
  ];
  opts.log(`Fused ops: compiling ${path.relative(root, source)} with ${cxx} against TensorFlow ${install.tensorflow}'s C API`);
  const r = spawnSync(cxx, args, { encoding: 'utf8' });
  if (r.status !== 0 || !fs.existsSync(out)) {
    fs.rmSync(out, { force: true });
    const tail = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-12).join('\n');
    throw new Error(`${cxx} could not build ${source} (exit ${r.status}):\n${tail}`);
  }
  fs.renameSync(out, kept);
  fs.copyFileSync(kept, target);
  return { built: true, seconds: (Date.now() - t0) / 1000, file: target, hash };
}
