// Multi-threaded wasm backend under Node. tfjs 4.22 ships a threaded+SIMD binary but never uses
// it in Node, for three reasons, each handled here for the duration of one backend init:
//  1. the flag WASM_HAS_MULTITHREAD_SUPPORT is hard-coded false under Node → we set it true;
//  2. tfjs hands Emscripten Blob URLs for the pthread worker script and for the main script the
//     workers import, and Node's worker_threads only run files → we write the worker script to a
//     temp file and make it import the package's own wasm-out/…threaded-simd.js from disk;
//  3. the wasm code caps XNNPACK's pool at os.cpus().length / 2 (read once, at module start), so a
//     2-vCPU machine gets 1 thread → os.cpus() reports at least 2×threads entries during init.
// Emscripten pre-creates 8 pthread workers during init, hence the cap of 8 threads. After init
// the workers are unref'd so they never keep a finished process alive.
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

const WASM_PKG = '@tensorflow/tfjs-backend-wasm';
/** Emscripten's PTHREAD_POOL_SIZE in tfjs-backend-wasm 4.22 (and XNNPACK's max_num_threads). */
export const MAX_WASM_THREADS = 8;

/**
 * A `require` that resolves from this file: kept dynamic so bundlers (esbuild) leave optional
 * packages external, and it works from src/ under vitest and from dist/ once bundled.
 */
export function nodeRequire(): NodeRequire {
  const anchor = typeof __filename === 'string' && __filename ? __filename : path.join(process.cwd(), 'index.js');
  return createRequire(anchor);
}

/** Folder of the installed @tensorflow/tfjs-backend-wasm package. */
export function wasmPackageDir(): string {
  return path.dirname(nodeRequire().resolve(`${WASM_PKG}/package.json`));
}

/** Folder holding the .wasm binaries, with a trailing separator, as setWasmPaths wants it. */
export function wasmBinaryDir(): string {
  return path.join(wasmPackageDir(), 'dist') + path.sep;
}

/** One threaded init in progress: call `end()` once tf.setBackend('wasm') has settled. */
export interface ThreadedInit {
  workerScript: string;
  mainScript: string;
  end(): void;
}

/**
 * Prepares the process for a threaded wasm init with `threads` threads. Throws with the reason
 * when a precondition is missing (then init single-threaded instead): a pthread worker that fails
 * to load its script would take the whole process down, so everything is checked up front.
 */
export function beginThreadedInit(threads: number): ThreadedInit {
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') throw new Error('SharedArrayBuffer/Atomics are unavailable in this runtime');
  const req = nodeRequire();
  try {
    req.resolve('node:worker_threads');
  } catch {
    throw new Error('node:worker_threads is unavailable in this runtime');
  }
  const pkgDir = wasmPackageDir();
  const mainScript = path.join(pkgDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const workerModule = path.join(pkgDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js');
  if (!fs.existsSync(mainScript) || !fs.readFileSync(mainScript, 'utf8').includes('var WasmBackendModuleThreadedSimd')) {
    throw new Error(`${mainScript} is missing or not the Emscripten threaded module`);
  }
  const contents: unknown = (req(workerModule) as { wasmWorkerContents?: unknown }).wasmWorkerContents;
  if (typeof contents !== 'string' || !contents.includes('importScripts')) throw new Error(`${workerModule} has no wasmWorkerContents string`);
  const workerScript = writeWorkerScript(contents, mainScript);

  // (1) The threaded binary is only chosen when this flag is true (and SIMD is supported).
  const env = tf.env();
  env.set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  // (2) tfjs asks for the pthread worker as URL.createObjectURL(new Blob([...], {type:
  // 'application/javascript'})); during this init that URL becomes our file.
  const originalCreate = URL.createObjectURL;
  URL.createObjectURL = function (obj: Blob): string {
    if (obj instanceof Blob && obj.type === 'application/javascript') return workerScript;
    return originalCreate.call(URL, obj);
  };
  // (3) Report enough logical cores for XNNPACK's cores/2 cap to allow `threads`.
  const originalCpus = os.cpus;
  os.cpus = function (): os.CpuInfo[] {
    const cpus = originalCpus.call(os);
    while (cpus.length > 0 && cpus.length < 2 * threads) cpus.push(cpus[0]);
    return cpus;
  };
  let ended = false;
  return {
    workerScript,
    mainScript,
    end() {
      if (ended) return;
      ended = true;
      URL.createObjectURL = originalCreate;
      os.cpus = originalCpus;
    },
  };
}

/**
 * Writes tfjs's pthread worker script to a temp file (content-addressed, reused across runs),
 * followed by a line that turns the main-script Blob tfjs posts to each worker into the path
 * of the package's threaded module, which the worker then reads with fs.
 */
function writeWorkerScript(contents: string, mainScript: string): string {
  // Same escaping as tfjs applies before making its Blob: the minified script's only newlines
  // sit inside string literals.
  const body = contents.replace(/\n/g, '\\n');
  const patch =
    `\n;(function(){var main=${JSON.stringify(mainScript)};var revoke=URL.revokeObjectURL;` +
    `URL.createObjectURL=function(b){return typeof b==='string'?b:main};` +
    `URL.revokeObjectURL=function(u){if(u!==main&&revoke)revoke.call(URL,u)};})();\n`;
  const text = `${body}${patch}`;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const file = path.join(privateTempDir(), `pthread-worker-${hash}.cjs`);
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) return file;
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file); // atomic: a concurrent process never runs a half-written script
  return file;
}

/**
 * A temp folder only this user can write to (the worker script runs as code in this process):
 * <tmp>/lora-lab-wasm-<uid>, mode 0700, refused if someone else owns it or can write to it.
 */
function privateTempDir(): string {
  const uid = process.getuid?.();
  const dir = path.join(os.tmpdir(), uid === undefined ? 'lora-lab-wasm' : `lora-lab-wasm-${uid}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (uid !== undefined) {
    const st = fs.lstatSync(dir);
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) throw new Error(`${dir} is not a private folder of this user`);
  }
  return dir;
}

interface PThreadLike {
  unusedWorkers?: Array<{ unref?: () => void }>;
  runningWorkers?: Array<{ unref?: () => void }>;
}

/**
 * Unrefs the Emscripten pthread workers of an initialized wasm backend so that a finished
 * process exits (the XNNPACK pool thread otherwise keeps Node's event loop alive). Returns how
 * many threads run wasm code now (pool threads plus the calling thread).
 */
export function releasePthreadWorkers(backend: unknown): number {
  const pthread = (backend as { wasm?: { PThread?: PThreadLike } } | undefined)?.wasm?.PThread;
  if (!pthread) return 1;
  for (const w of [...(pthread.unusedWorkers ?? []), ...(pthread.runningWorkers ?? [])]) w.unref?.();
  return 1 + (pthread.runningWorkers?.length ?? 0);
}
