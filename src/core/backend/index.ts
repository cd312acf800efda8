// TensorFlow.js backend choice for the training worker and the CLI, and the report of why each
// backend was or wasn't used. Order for 'auto': tensorflow-gpu (@tensorflow/tfjs-node-gpu) →
// tensorflow (@tensorflow/tfjs-node) → wasm (multi-threaded when it can be) → cpu (pure JS, last
// resort). The native packages (loadNative.ts) are optionalDependencies, loaded through a dynamic
// require so bundlers keep them external; `lora-lab setup-native` sets them up from PyPI.
// Measured facts behind these choices: docs/backends.md. The worker's environment: cudaEnv.ts.
export { findCuda12Libraries, findCudaLibraries, workerEnvironment, type CudaLibraries } from './cudaEnv';
export type { NativeSourceInfo } from './nativeSource';
export { backendSummary, formatBackendReport, nativeHint, type BackendAttempt, type BackendChoice, type BackendName, type BackendReport } from './report';
export { BACKEND_PACKAGES } from './attempt';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount, setWasmPaths, version_wasm } from '@tensorflow/tfjs-backend-wasm';
import { AttemptFailed, BACKEND_PACKAGES, errorText, type Loaded } from './attempt';
import { loadNative } from './loadNative';
import type { BackendAttempt, BackendChoice, BackendName, BackendReport } from './report';
import { installFastWasmKernels } from './wasmKernels';
import { matMulT } from './tensorOps';
import { beginThreadedInit, MAX_WASM_THREADS, releasePthreadWorkers, wasmBinaryDir, type ThreadedInit } from './wasmThreads';

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


export class BackendUnavailableError extends Error {
  constructor(message: string, readonly backend: BackendName, readonly attempts: BackendAttempt[]) {
    super(message);
    this.name = 'BackendUnavailableError';
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

/**
 * Times a plain 2-D product [m,k]×[k,n] as the engine makes it (matMulT: TensorFlow's MatMul op on
 * native, tf.matMul elsewhere): the best of `reps` after 2 warm-ups, as scripts/bench_torch.py
 * times PyTorch's. The backends LoRA Lab runs on (tensorflow, wasm, cpu) compute synchronously, so
 * no readback is timed (one per product added a copy of the output: ~5 ms of ~55 at 2048³).
 */
export function benchmarkMatMul(m = 512, k = 768, n = 768, reps = 10): { ms: number; gflops: number } {
  const a = tf.randomNormal([m, k]) as tf.Tensor2D;
  const b = tf.randomNormal([k, n]) as tf.Tensor2D;
  const run = (): number => {
    const t0 = performance.now();
    const c = matMulT(a, b);
    const ms = performance.now() - t0;
    c.dataSync(); // completes it on any backend; not timed
    c.dispose();
    return ms;
  };
  run();
  run();
  let ms = Infinity;
  for (let i = 0; i < reps; i++) ms = Math.min(ms, run());
  a.dispose();
  b.dispose();
  return { ms, gflops: (2 * m * k * n) / (ms * 1e6) };
}

function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

