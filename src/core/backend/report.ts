// The backend report's shape and its wording (lora-lab info, the train line, the output channel).
// No TensorFlow.js import: the extension host formats reports the worker sends.
import * as path from 'node:path';
import { nativeUnsupportedReason } from './nativeLayout';
import type { NativeSourceInfo } from './nativeSource';

/** The fused kernels' vector path by float32 lanes. */
const VECTOR_PATHS: Record<number, string> = { 16: 'AVX-512', 8: 'AVX2', 4: 'SSE2' };

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export type BackendChoice = 'auto' | BackendName;

export interface BackendAttempt {
  backend: BackendName;
  package: string;
  ok: boolean;
  reason: string;
}

export interface BackendReport {
  backend: BackendName;
  /** tf.getBackend(): 'tensorflow' for both native packages. */
  tfBackend: string;
  device: 'gpu' | 'cpu';
  threads: number;
  simd?: boolean;
  /** Tensor bytes this backend may hold before checkMemory stops the run: wasm's heap, or 70% of the machine's memory on native CPU. */
  memoryLimitBytes?: number;
  /** Native CPU: the memory the limit is taken from (the machine's, or its cgroup's). */
  machineMemoryBytes?: number;
  /** Native: which TensorFlow loaded, from where, and (GPU) the CUDA libraries. */
  native?: NativeSourceInfo;
  attempts: BackendAttempt[];
  versions: Record<string, string>;
  /** Things worth knowing that are not failures (thread caps, CPU fallback, …). */
  notes: string[];
}

/** One line: "tensorflow on CPU, 2 threads, TensorFlow 2.21.0 from the PyPI wheel tensorflow-cpu 2.21.0". */
export function backendSummary(r: BackendReport): string {
  const parts = [`${r.backend} on ${r.device === 'gpu' ? 'GPU' : 'CPU'}, ${r.threads} thread${r.threads === 1 ? '' : 's'}`];
  if (r.native) parts.push(`TensorFlow ${r.versions.tensorflow ?? '?'} from ${r.native.source === 'pypi-wheel' ? `the PyPI wheel ${r.native.wheel}` : 'the classic package'}`);
  if (r.native?.cuda && r.device !== 'gpu') parts.push(r.native.cuda.driver ? 'no GPU device registered' : 'no NVIDIA driver');
  return parts.join(', ');
}

/**
 * Said once when a run starts on wasm or cpu where native TensorFlow could be set up (Linux
 * x86_64, not set up yet): what to run. Undefined when there is nothing to say.
 */
export function nativeHint(r: BackendReport): string | undefined {
  if ((r.backend !== 'wasm' && r.backend !== 'cpu') || nativeUnsupportedReason()) return undefined;
  const forced = r.attempts.some((a) => a.reason.startsWith('skipped: backend forced'));
  if (forced) return undefined;
  return 'native TensorFlow trains several times faster on this machine (BENCHMARKS.md): set it up with npm run setup:native (or LoRA Lab: Set Up Native Backend… in VS Code); it downloads the 274 MB tensorflow-cpu wheel from PyPI once.';
}

/** Human-readable lines for `lora-lab info` and the output channel. */
export function formatBackendReport(r: BackendReport): string {
  const what = [r.device === 'gpu' ? 'GPU' : 'CPU', `${r.threads} thread${r.threads === 1 ? '' : 's'}`];
  if (r.simd !== undefined) what.push(r.simd ? 'SIMD' : 'no SIMD');
  const lines = [`Backend    ${r.backend} (tf.getBackend() = ${r.tfBackend}) on ${what.join(', ')}`];
  if (r.native) {
    const n = r.native;
    const from = n.source === 'pypi-wheel' ? `the PyPI wheel ${n.wheel}, set up in ${n.installRoot}` : 'the classic package (its own libtensorflow)';
    lines.push(`TensorFlow ${r.versions.tensorflow ?? '?'} from ${from}`, `           ${n.library}`);
    if (n.onednn !== undefined) lines.push(`           oneDNN ${n.onednn ? 'on' : 'off'} (TF_ENABLE_ONEDNN_OPTS)`);
    if (n.fusedOps) {
      const f = n.fusedOps;
      lines.push(f.loaded ? `Fused ops  ${f.ops?.length ?? 0} LoRA Lab kernels (${f.threads} threads${f.lanes ? `, ${VECTOR_PATHS[f.lanes] ?? `${f.lanes}-lane`} vectors` : ''}) from ${f.file}` : `Fused ops  not used: ${f.reason}`);
    }
    if (n.cuda) {
      lines.push(`CUDA       driver ${n.cuda.driver ?? `not found (${'libcuda.so.1'}): no NVIDIA driver on this machine`}`);
      const libs = Object.keys(n.cuda.libraries);
      if (libs.length) lines.push(`           ${libs.join(', ')} from ${[...new Set(Object.values(n.cuda.libraries).map((f) => path.dirname(path.dirname(f))))].join(', ')}`);
      if (n.cuda.missing.length) lines.push(`           missing: ${n.cuda.missing.join(', ')}`);
    }
  }
  if (r.memoryLimitBytes !== undefined) {
    const why = r.backend === 'wasm' ? 'wasm heap: 4 GiB max' : `70% of ${r.machineMemoryBytes !== undefined ? gb(r.machineMemoryBytes) : 'the machine\'s memory'}`;
    lines.push(`Memory     runs stop at ${gb(r.memoryLimitBytes)} of tensors (${why})`);
  }
  for (const a of r.attempts) lines.push(`  ${a.ok ? '✓' : '✗'} ${a.backend.padEnd(14)} ${a.package.padEnd(30)} ${a.reason}`);
  for (const n of r.notes) lines.push(`Note       ${n}`);
  lines.push(`Versions   ${Object.entries(r.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return lines.join('\n');
}

function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(2)} GB`;
}
