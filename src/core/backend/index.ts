// TensorFlow.js backend choice for the training worker and the CLI, and the report of why each
// backend was or wasn't used. Order for 'auto': tensorflow-gpu (@tensorflow/tfjs-node-gpu, CUDA 11
// + cuDNN 8 only) → tensorflow (@tensorflow/tfjs-node) → wasm (multi-threaded when it can be) →
// cpu (pure JS, last resort). The native packages are optionalDependencies: they are loaded through
// a dynamic require so bundlers keep them external, and a missing one reads "not installed".
// Measured facts behind these choices: docs/backends.md. The worker's CUDA environment: cudaEnv.ts.
export { findCuda12Libraries, findCudaLibraries, workerEnvironment, type CudaLibraries } from './cudaEnv';
export type { NativeSourceInfo } from './nativeSource';
export { backendSummary, formatBackendReport, nativeHint, type BackendAttempt, type BackendChoice, type BackendName, type BackendReport } from './report';
import * as fs from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount, setWasmPaths, version_wasm } from '@tensorflow/tfjs-backend-wasm';
import { CUDA12_DRIVER, findCuda12Libraries, findCudaLibraries } from './cudaEnv';
import { TF_WHEEL_VERSION } from './nativeLayout';
import { describeLibrary, libtensorflowDir, mappedLibraries, nativeMemoryLimitBytes, type NativeSourceInfo } from './nativeSource';
import type { BackendAttempt, BackendChoice, BackendName, BackendReport } from './report';
import { installFastWasmKernels } from './wasmKernels';
import { beginThreadedInit, MAX_WASM_THREADS, nodeRequire, releasePthreadWorkers, wasmBinaryDir, type ThreadedInit } from './wasmThreads';

export const BACKEND_PACKAGES: Record<BackendName, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};
const AUTO_ORDER: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/**
 * Tensor bytes allowed on wasm. Its heap is wasm32 (4 GiB max) and also holds what tf.memory()
 * does not count: XNNPACK's packed copies of matmul weights, scratch buffers, allocator slack.
 * Measured here: distilgpt2 (batch 4 × 128, one thread) died with "memory access out of bounds"
 * at 3.03e9 tensor bytes; with two threads the process ended without a word. 2.5e9 keeps a margin.
 */
export const WASM_MEMORY_LIMIT_BYTES = 2.5e9;

/** The wasm heap never shrinks; past this size (of 4 GiB) the next growth may fail, so stop first. */
export const WASM_HEAP_STOP_BYTES = 3.6 * 2 ** 30;

/** Current size of the wasm backend's heap (a high-water mark), or undefined on other backends. */
export function wasmHeapBytes(): number | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8;
  return heap?.buffer.byteLength;
}


const CUDA_NEEDS = 'tfjs-node-gpu 4.22 needs the NVIDIA driver, CUDA 11.x (built for 11.2) and cuDNN 8.x; with CUDA 12 / cuDNN 9 only it silently runs on the CPU';

export class BackendUnavailableError extends Error {
  constructor(message: string, readonly backend: BackendName, readonly attempts: BackendAttempt[]) {
    super(message);
    this.name = 'BackendUnavailableError';
  }
}

interface Loaded {
  device: 'gpu' | 'cpu';
  threads: number;
  simd?: boolean;
  memoryLimitBytes?: number;
  machineMemoryBytes?: number;
  native?: NativeSourceInfo;
  reason: string;
  versions: Record<string, string>;
}

/** A backend that could not be used: `reason` goes into the report, `fix` into a forced choice's error. */
class AttemptFailed extends Error {
  constructor(readonly reason: string, readonly fix: string) {
    super(reason);
  }
}

/**
 * Loads the backend `choice` names ('auto': the best one that works) and reports what happened.
 * A forced choice that fails throws BackendUnavailableError with the reason and the fix. tfjs
 * backends are process-global: call this once per process (the training worker, the CLI).
 */
export async function initBackend(choice: BackendChoice = 'auto', opts: { threads?: number } = {}): Promise<BackendReport> {
  const attempts: BackendAttempt[] = [];
  const notes: string[] = [];
  let chosen: { name: BackendName; loaded: Loaded } | undefined;
  for (const name of AUTO_ORDER) {
    const pkg = BACKEND_PACKAGES[name];
    if (choice !== 'auto' && name !== choice) {
      attempts.push({ backend: name, package: pkg, ok: false, reason: `skipped: backend forced by setting to '${choice}'` });
      continue;
    }
    if (chosen) {
      attempts.push({ backend: name, package: pkg, ok: false, reason: 'skipped: a higher-priority backend loaded' });
      continue;
    }
    try {
      const loaded = await loadBackend(name, choice === name, opts, notes);
      attempts.push({ backend: name, package: pkg, ok: true, reason: choice === name ? `${loaded.reason} (forced by setting)` : loaded.reason });
      chosen = { name, loaded };
    } catch (e) {
      const failed = e instanceof AttemptFailed ? e : new AttemptFailed(`failed: ${errorText(e)}`, '');
      attempts.push({ backend: name, package: pkg, ok: false, reason: failed.reason });
      if (choice === name) {
        const msg = `The '${name}' backend was forced by setting but cannot be used: ${failed.reason}.${failed.fix ? ` ${failed.fix}` : ''} Or set the backend to 'auto'.`;
        throw new BackendUnavailableError(msg, name, attempts);
      }
    }
  }
  if (!chosen) throw new BackendUnavailableError('No TensorFlow.js backend could be loaded, not even cpu.', 'cpu', attempts);
  const { name, loaded } = chosen;
  return {
    backend: name,
    tfBackend: tf.getBackend(),
    device: loaded.device,
    threads: loaded.threads,
    ...(loaded.simd !== undefined ? { simd: loaded.simd } : {}),
    ...(loaded.memoryLimitBytes !== undefined ? { memoryLimitBytes: loaded.memoryLimitBytes } : {}),
    ...(loaded.machineMemoryBytes !== undefined ? { machineMemoryBytes: loaded.machineMemoryBytes } : {}),
    ...(loaded.native ? { native: loaded.native } : {}),
    attempts,
    versions: { tfjs: tf.version.tfjs, 'tfjs-core': tf.version['tfjs-core'], 'tfjs-backend-wasm': version_wasm, node: process.versions.node, ...loaded.versions },
    notes,
  };
}

function loadBackend(name: BackendName, forced: boolean, opts: { threads?: number }, notes: string[]): Promise<Loaded> {
  switch (name) {
    case 'tensorflow-gpu':
      return loadNative(true, forced, opts, notes);
    case 'tensorflow':
      return loadNative(false, forced, opts, notes);
    case 'wasm':
      return loadWasm(opts.threads, notes);
    case 'cpu':
      return loadCpu();
  }
}

/** How to get a native package working: the registries-only set-up first, the classic install second. */
function installFix(pkg: string, gpu: boolean): string {
  const where = loraLabRoot();
  const setup = `npm run setup:native${gpu ? ' -- --gpu' : ''}${where ? ` (in ${where})` : ''}, or in VS Code *LoRA Lab: Set Up Native Backend…*`;
  const classic = `npm i ${pkg}@${tf.version.tfjs}, whose install script downloads libtensorflow 2.9.1 from Google storage${gpu ? ' (CUDA 11.x + cuDNN 8.x only)' : ''}`;
  return `Set it up from PyPI's TensorFlow ${TF_WHEEL_VERSION} wheel with ${setup}${gpu ? ' (CUDA 12 / cuDNN 9 from the nvidia-*-cu12 wheels, needs an NVIDIA driver)' : ''}; or the classic way: ${classic}.`;
}

/** True when `pkg` is installed with its binding and a libtensorflow to load. */
function nativeReady(req: NodeRequire, pkg: string): boolean {
  try {
    const dir = path.dirname(req.resolve(`${pkg}/package.json`));
    return fs.existsSync(path.join(dir, 'lib', 'napi-v8', 'tfjs_binding.node')) && libtensorflowDir(dir) !== undefined;
  } catch {
    return false;
  }
}

/** @tensorflow/tfjs-node(-gpu): libtensorflow through N-API. */
async function loadNative(gpu: boolean, forced: boolean, opts: { threads?: number }, notes: string[]): Promise<Loaded> {
  const pkg = BACKEND_PACKAGES[gpu ? 'tensorflow-gpu' : 'tensorflow'];
  const req = nodeRequire();
  let pkgDir: string;
  try {
    pkgDir = path.dirname(req.resolve(`${pkg}/package.json`));
  } catch (e) {
    if ((e as { code?: string }).code === 'MODULE_NOT_FOUND') throw new AttemptFailed(`not installed (npm run setup:native${gpu ? ' -- --gpu' : ''})`, installFix(pkg, gpu));
    throw new AttemptFailed(`cannot be resolved: ${errorText(e)}`, installFix(pkg, gpu));
  }
  // One libtensorflow per process: this package may already be loaded (a test setup, a second
  // initBackend); another native package must not be loaded beside it.
  const alreadyLoaded = Boolean(req.cache[req.resolve(pkg)]);
  if (!alreadyLoaded && tf.engine().registryFactory.tensorflow) throw new AttemptFailed('another native TensorFlow package is already loaded in this process (one libtensorflow per process)', 'Start a new process.');
  const libDir = alreadyLoaded ? undefined : libtensorflowDir(pkgDir);
  if (!alreadyLoaded && !libDir) throw new AttemptFailed('installed, but it has no libtensorflow (deps/lib is missing: its download script did not run)', installFix(pkg, gpu));
  const source = libDir ? describeLibrary(libDir) : undefined;
  // A GPU package that would run without a GPU is used as such only when auto has no CPU package
  // to fall back on (native CPU TensorFlow beats wasm and has no 4 GiB heap), and always said so.
  let cudaMissing: string | undefined;
  let cuda: NativeSourceInfo['cuda'];
  if (gpu) {
    if (process.platform === 'darwin') throw new AttemptFailed('tfjs-node-gpu has no macOS build (no CUDA on macOS)', '');
    const cpuFallback = forced || nativeReady(req, BACKEND_PACKAGES.tensorflow);
    if (source?.install?.variant === 'gpu') {
      const c12 = findCuda12Libraries(source.install);
      cuda = { ...(c12.driver ? { driver: c12.driver } : {}), libraries: c12.found, missing: c12.missing };
      if (c12.missing.length > 0) throw new AttemptFailed(`the GPU install in ${source.install.root} lacks ${c12.missing.join(', ')}`, `Set it up again: npm run setup:native -- --gpu --force.`);
      if (!c12.driver) {
        cudaMissing = `no NVIDIA driver (${CUDA12_DRIVER} not found): TensorFlow ${source.install.tensorflow}'s CUDA 12 build would run on the CPU`;
        if (cpuFallback) throw new AttemptFailed(cudaMissing, 'Install the NVIDIA driver (nvidia-smi must work), or use the CPU backend.');
      }
    } else if (source?.install?.variant === 'cpu') {
      throw new AttemptFailed(`its deps/lib points at the CPU build (${source.wheel})`, 'Set up the GPU build: npm run setup:native -- --gpu.');
    } else if (!alreadyLoaded) {
      const c11 = findCudaLibraries();
      if (c11.missing.length > 0) {
        const off = Object.entries(c11.offLoaderPath).map(([lib, dir]) => `${lib} is in ${dir}, which is not on the library path (add it to LD_LIBRARY_PATH)`);
        cudaMissing = `CUDA 11 libraries not found: ${c11.missing.join(', ')}${off.length ? `; ${off.join('; ')}` : ''} (${CUDA_NEEDS})`;
        if (cpuFallback) throw new AttemptFailed(cudaMissing, installFix(pkg, true));
      }
    }
  }
  // TensorFlow's C++ logging (CPU feature banners) reads this at load; LoRA Lab reports what matters.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  // TensorFlow 2.21 turns oneDNN on only for CPUs it recognises (not this project's AMD EPYC);
  // off, a matMul runs as Eigen tiles. Measured here on distilgpt2 (kernel profile): matMul
  // 91.5 → 128 GFLOP/s, the LM head 70–78 → 131, batched attention 28 → 89, CPU time per step
  // 3.6 → 2.5–2.85 s; native losses equal wasm's to 1e-5 either way. Read once, at load.
  process.env.TF_ENABLE_ONEDNN_OPTS ??= '1';
  // TensorFlow sizes its intra-op thread pool once, when the library loads.
  if (opts.threads !== undefined) {
    if (alreadyLoaded) notes.push(`native TensorFlow was loaded earlier in this process: --threads ${opts.threads} applies only in a new process`);
    else process.env.TF_NUM_INTRAOP_THREADS = String(Math.max(1, Math.floor(opts.threads)));
  }
  let mod: { version?: Record<string, string> };
  try {
    mod = req(pkg) as typeof mod;
  } catch (e) {
    throw new AttemptFailed(nativeLoadFailure(e), `Reinstall it: ${installFix(pkg, gpu)}`);
  }
  if (!(await tf.setBackend('tensorflow'))) throw new AttemptFailed('loaded but tf.setBackend("tensorflow") failed', installFix(pkg, gpu));
  await tf.ready();
  // tfjs-node's NodeJSKernelBackend exposes `isUsingGpuDevice` (the binding's IsUsingGPUDevice():
  // true when TensorFlow's device list holds a GPU, else every op runs on the host CPU).
  const b = tf.backend() as { isUsingGpuDevice?: boolean; binding?: { isUsingGpuDevice?: () => boolean; TF_Version?: string } };
  const onGpu = b.isUsingGpuDevice ?? b.binding?.isUsingGpuDevice?.() ?? false;
  const versions: Record<string, string> = {};
  const nodeVersion = mod.version?.['tfjs-node'];
  if (nodeVersion) versions[gpu ? 'tfjs-node-gpu' : 'tfjs-node'] = nodeVersion;
  if (typeof b.binding?.TF_Version === 'string') versions.tensorflow = b.binding.TF_Version;
  const mapped = mappedLibraries(/^libtensorflow_framework\.so/)[0];
  const native: NativeSourceInfo | undefined = mapped ? stripInstall(describeLibrary(mapped)) : source ? stripInstall(source) : undefined;
  if (native) native.onednn = !['0', 'false'].includes((process.env.TF_ENABLE_ONEDNN_OPTS ?? '').toLowerCase());
  if (native && gpu) {
    const loadedCuda = Object.fromEntries(mappedLibraries(/^lib(cuda|cudart|cudnn|cublas|cublasLt)\.so/).map((f) => [path.basename(f), f]));
    native.cuda = { ...(cuda ?? { libraries: {}, missing: [] }), libraries: { ...(cuda?.libraries ?? {}), ...loadedCuda } };
  }
  const threads = Number(process.env.TF_NUM_INTRAOP_THREADS) || os.availableParallelism();
  const memory = nativeMemoryLimitBytes();
  const common = { threads, versions, ...(native ? { native } : {}) };
  if (!gpu) return { ...common, device: 'cpu', memoryLimitBytes: memory.bytes, machineMemoryBytes: memory.machineBytes, reason: loadedReason(native) };
  if (onGpu) return { ...common, device: 'gpu', reason: `${loadedReason(native)}, GPU device in use` };
  const cpuCommon = { ...common, device: 'cpu' as const, memoryLimitBytes: memory.bytes, machineMemoryBytes: memory.machineBytes };
  if (cudaMissing) {
    notes.push(`tensorflow-gpu is running on the CPU: ${cudaMissing}. Install an NVIDIA driver for the GPU, or npm run setup:native (the CPU build) to use ${BACKEND_PACKAGES.tensorflow} instead.`);
    return { ...cpuCommon, reason: `${cudaMissing}: loaded as a CPU-only TensorFlow (no ${BACKEND_PACKAGES.tensorflow} set up)` };
  }
  const why = 'loaded but TensorFlow registered no GPU device: running on CPU';
  const fix = 'The CUDA libraries and the driver were found, so check that the driver supports the CUDA version and the GPU is visible (nvidia-smi); run with TF_CPP_MIN_LOG_LEVEL=0 to see TensorFlow\'s reason.';
  if (forced) throw new AttemptFailed(why, fix);
  notes.push(`tensorflow-gpu is running on the CPU. ${fix}`);
  return { ...cpuCommon, reason: why };
}

function loadedReason(native: NativeSourceInfo | undefined): string {
  if (!native) return 'loaded';
  return native.source === 'pypi-wheel' ? `loaded (TensorFlow from the PyPI wheel ${native.wheel})` : 'loaded (classic package: its own libtensorflow)';
}

function stripInstall(info: NativeSourceInfo & { install?: unknown }): NativeSourceInfo {
  const { install: _install, ...rest } = info;
  return rest;
}

/** Why requiring an installed native package failed, in the user's terms. */
function nativeLoadFailure(e: unknown): string {
  const msg = errorText(e);
  if (/tfjs_binding\.node.*can ?not be found/is.test(msg)) return 'installed, but its native addon tfjs_binding.node is missing (the install script could not download it)';
  if ((e as { code?: string }).code === 'ERR_DLOPEN_FAILED' || /cannot open shared object|libtensorflow/i.test(msg)) return `installed, but its native library failed to load: ${firstLine(msg)}`;
  if ((e as { code?: string }).code === 'MODULE_NOT_FOUND') return `installed, but a dependency is missing: ${firstLine(msg)}`;
  return `installed, but loading it failed: ${firstLine(msg)}`;
}

let wasmPathsSet = false;

/** The wasm backend; multi-threaded through ./wasmThreads when SIMD is there and threads > 1. */
async function loadWasm(requested: number | undefined, notes: string[]): Promise<Loaded> {
  const wanted = Math.max(1, Math.floor(requested ?? os.availableParallelism()));
  const threads = Math.min(wanted, MAX_WASM_THREADS);
  if (wanted > threads) notes.push(`wasm threads capped at ${MAX_WASM_THREADS} (tfjs pre-creates ${MAX_WASM_THREADS} pthread workers); ${wanted} requested`);
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
  const versions = {};
  const memoryLimitBytes = WASM_MEMORY_LIMIT_BYTES;
  const simdNote = simd ? '' : ' (no SIMD: the slower baseline binary, single thread)';
  if (tf.engine().registry.wasm) {
    // Already initialized in this process (e.g. by a test setup): its thread count is fixed.
    if (!(await tf.setBackend('wasm'))) throw new AttemptFailed('tf.setBackend("wasm") failed', '');
    installFastWasmKernels();
    const actual = getThreadsCount();
    if (actual !== threads) notes.push(`wasm was initialized earlier in this process with ${actual} thread(s); the thread count changes only in a new process`);
    return { device: 'cpu', threads: actual, simd, memoryLimitBytes, reason: `loaded${simdNote}`, versions };
  }
  if (!wasmPathsSet) {
    setWasmPaths(wasmBinaryDir());
    wasmPathsSet = true;
  }
  let session: ThreadedInit | undefined;
  if (threads > 1 && !simd) notes.push('wasm multi-threading needs SIMD (tfjs ships only a threaded+SIMD binary): running single-threaded');
  if (threads > 1 && simd) {
    try {
      session = beginThreadedInit(threads);
    } catch (e) {
      notes.push(`wasm multi-threading unavailable (${errorText(e)}): running single-threaded`);
    }
  }
  setThreadsCount(session ? threads : 1);
  let ok: boolean;
  try {
    ok = await tf.setBackend('wasm');
  } finally {
    session?.end();
  }
  if (!ok && session) {
    notes.push('threaded wasm init failed: retried single-threaded');
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    setThreadsCount(1);
    ok = await tf.setBackend('wasm');
  }
  if (!ok) throw new AttemptFailed('tf.setBackend("wasm") failed (the .wasm binaries could not be loaded)', `Reinstall it: npm i ${BACKEND_PACKAGES.wasm}@${tf.version.tfjs}.`);
  await tf.ready();
  installFastWasmKernels();
  releasePthreadWorkers(tf.backend());
  const actual = getThreadsCount();
  if (session && actual < threads) notes.push(`wasm asked for ${threads} threads, XNNPACK created ${actual}`);
  return { device: 'cpu', threads: actual, simd, memoryLimitBytes, reason: `loaded${simdNote}`, versions };
}

async function loadCpu(): Promise<Loaded> {
  if (!(await tf.setBackend('cpu'))) throw new AttemptFailed('tf.setBackend("cpu") failed', '');
  return { device: 'cpu', threads: 1, reason: 'loaded (pure JavaScript: roughly 30× slower than wasm on matmuls)', versions: {} };
}

/** Thrown when the tensors a run holds would pass the backend's safe memory limit. */
export class MemoryLimitError extends Error {
  constructor(readonly where: string, readonly usedBytes: number, readonly limitBytes: number, readonly backend: BackendName) {
    super(
      `${where}: tensors would hold ${gb(usedBytes)}, ${gb(usedBytes - limitBytes)} over the ${gb(limitBytes)} safe limit of the ${backend} backend` +
        (backend === 'wasm' ? ' (its heap is capped at 4 GiB and tfjs silently corrupts tensors near 3.9 GB)' : backend === 'tensorflow' || backend === 'tensorflow-gpu' ? ' (70% of this machine\'s memory)' : '') +
        '. Lower the batch size, the max sequence length, the LoRA rank, or the number of adapted layers' +
        (backend === 'wasm' ? '; or set up native TensorFlow (npm run setup:native, or LoRA Lab: Set Up Native Backend…), which has no such cap.' : '.'),
    );
    this.name = 'MemoryLimitError';
  }
}

/** Stops a run before it passes report.memoryLimitBytes: tf.memory().numBytes plus `extraBytes` about to be allocated. */
export function checkMemory(report: BackendReport, where: string, extraBytes = 0): void {
  if (report.memoryLimitBytes === undefined) return;
  const used = tf.memory().numBytes + extraBytes;
  if (used > report.memoryLimitBytes) throw new MemoryLimitError(where, used, report.memoryLimitBytes, report.backend);
  const heap = wasmHeapBytes();
  if (heap !== undefined && heap > WASM_HEAP_STOP_BYTES) throw new MemoryLimitError(`${where} (wasm heap)`, heap, WASM_HEAP_STOP_BYTES, report.backend);
}

/**
 * Whether `extraBytes` more of tensors would fit: under report.memoryLimitBytes and, on wasm,
 * with the heap kept under WASM_HEAP_STOP_BYTES. The heap projection is conservative: the heap
 * as it is (a high-water mark that also holds XNNPACK's packed weights and scratch) plus all of
 * `extraBytes`, as if none of it could reuse free space.
 */
export function memoryFits(report: BackendReport, extraBytes: number): boolean {
  if (report.memoryLimitBytes === undefined) return true;
  if (tf.memory().numBytes + extraBytes > report.memoryLimitBytes) return false;
  const heap = wasmHeapBytes();
  return heap === undefined || heap + extraBytes <= WASM_HEAP_STOP_BYTES;
}

/** Times a plain 2-D matMul [m,k]×[k,n] on the current backend (after 2 warm-ups). */
export function benchmarkMatMul(m = 512, k = 768, n = 768, reps = 10): { ms: number; gflops: number } {
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  const run = (): void => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  };
  run();
  run();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) run();
  const ms = (performance.now() - t0) / reps;
  a.dispose();
  b.dispose();
  return { ms, gflops: (2 * m * k * n) / (ms * 1e6) };
}

/** The LoRA Lab package folder (where optional packages get installed), if found above this file. */
function loraLabRoot(): string | undefined {
  let dir = path.dirname(nodeRequire().resolve('@tensorflow/tfjs'));
  for (let i = 0; i < 8; i++) {
    if (path.basename(dir) === 'node_modules') return path.dirname(dir);
    dir = path.dirname(dir);
  }
  return undefined;
}

function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}
