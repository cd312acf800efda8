// Backend choice and report. In this process test/setupTf.ts has already initialized wasm
// (single-threaded); the multi-threaded path runs in fresh Node processes on an esbuild bundle of
// src/core/backend/index.ts with TensorFlow.js external, the way dist/worker.js and dist/cli.js use it.
// Reference for every matMul: a plain JavaScript triple loop in float64.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as esbuild from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  checkMemory,
  findCudaLibraries,
  memoryFits,
  wasmHeapBytes,
  WASM_HEAP_STOP_BYTES,
  formatBackendReport,
  initBackend,
  MemoryLimitError,
  workerEnvironment,
  type BackendReport,
} from '../../src/core/backend';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(__dirname, '..', '..');

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
/** A native package with its binding and a libtensorflow to load (npm run setup:native, or the classic install). */
function ready(pkg: string): boolean {
  if (!installed(pkg)) return false;
  const dir = path.dirname(require.resolve(`${pkg}/package.json`));
  return fs.existsSync(path.join(dir, 'lib', 'napi-v8', 'tfjs_binding.node')) && fs.existsSync(path.join(dir, 'deps', 'lib', 'libtensorflow_framework.so.2'));
}
const NATIVE_INSTALLED = installed('@tensorflow/tfjs-node-gpu') || installed('@tensorflow/tfjs-node');
const NATIVE_CPU_READY = ready('@tensorflow/tfjs-node');

/** Deterministic uniform values in [-scale, scale] (LCG), so every process builds the same inputs. */
function lcgValues(count: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 * 2 - 1) * scale;
  }
  return out;
}

/** [m,k]×[k,n] by the schoolbook triple loop, accumulated in float64. */
function referenceMatMul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
      c[i * n + j] = sum;
    }
  }
  return c;
}

function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  expect(x.length).toBe(y.length);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
  return worst;
}

/** Inputs scaled by 1/√k so outputs stay O(1) and 1e-5 is a meaningful absolute tolerance. */
function matMulCase(m: number, k: number, n: number): { a: Float32Array; b: Float32Array; ref: Float64Array } {
  const a = lcgValues(m * k, 12345, 1 / Math.sqrt(k));
  const b = lcgValues(k * n, 678, 1);
  return { a, b, ref: referenceMatMul(a, b, m, k, n) };
}

function tfMatMul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  return tf.tidy(() => tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])).dataSync() as Float32Array);
}

describe('initBackend in this process', () => {
  let auto: BackendReport;
  beforeAll(async () => {
    auto = await initBackend('auto');
  });

  it.skipIf(NATIVE_INSTALLED)("auto on this machine selects wasm and reports tensorflow-gpu and tensorflow as 'not installed'", () => {
    expect(auto.backend).toBe('wasm');
    expect(auto.tfBackend).toBe('wasm');
    expect(auto.device).toBe('cpu');
    expect(auto.memoryLimitBytes).toBe(2.5e9);
    const byName = Object.fromEntries(auto.attempts.map((a) => [a.backend, a]));
    expect(byName['tensorflow-gpu']).toMatchObject({ ok: false, package: '@tensorflow/tfjs-node-gpu' });
    expect(byName['tensorflow-gpu'].reason).toBe('not installed (npm run setup:native -- --gpu)');
    expect(byName.tensorflow.reason).toBe('not installed (npm run setup:native)');
    expect(byName.wasm.ok).toBe(true);
    expect(byName.cpu.reason).toBe('skipped: a higher-priority backend loaded');
    expect(auto.versions.tfjs).toBe(tf.version.tfjs);
  });

  it.skipIf(!NATIVE_CPU_READY)('with native TensorFlow set up, auto selects it, says it came from the PyPI wheel, and limits memory to 70% of the machine', () => {
    expect(auto).toMatchObject({ backend: 'tensorflow', tfBackend: 'tensorflow', device: 'cpu' });
    const byName = Object.fromEntries(auto.attempts.map((a) => [a.backend, a]));
    expect(byName.tensorflow.ok).toBe(true);
    if (auto.native?.source === 'pypi-wheel') {
      expect(byName.tensorflow.reason).toBe(`loaded (TensorFlow from the PyPI wheel ${auto.native.wheel})`);
      expect(auto.native.wheel).toBe('tensorflow-cpu 2.21.0');
      expect(auto.versions.tensorflow).toBe('2.21.0');
      // The library the process really mapped is the install's, not some other libtensorflow.
      expect(auto.native.library).toBe(path.join(auto.native.installRoot!, 'site', 'tensorflow', 'libtensorflow_framework.so.2'));
    }
    expect(auto.machineMemoryBytes).toBeGreaterThan(0);
    expect(auto.memoryLimitBytes).toBe(Math.floor(0.7 * auto.machineMemoryBytes!));
    expect(formatBackendReport(auto)).toMatch(/^TensorFlow 2\.\d+\.\d+ from /m);
  });

  it('matMul on the selected backend equals a plain JS triple loop within 1e-5', () => {
    expect(tf.getBackend()).toBe(auto.tfBackend);
    for (const [m, k, n] of [[37, 64, 29], [128, 768, 96]]) {
      const { a, b, ref } = matMulCase(m, k, n);
      expect(maxAbsDiff(tfMatMul(a, b, m, k, n), ref)).toBeLessThan(1e-5);
    }
  });

  it('formatBackendReport names the backend, each attempt with its reason, and the versions', () => {
    const text = formatBackendReport(auto);
    expect(text).toContain(`Backend    ${auto.backend}`);
    for (const a of auto.attempts) expect(text).toContain(a.reason);
    expect(text).toContain(`tfjs ${tf.version.tfjs}`);
  });

  it.skipIf(NATIVE_INSTALLED)("forcing 'tensorflow-gpu' throws an error naming the package to install and the CUDA versions", async () => {
    const err = await initBackend('tensorflow-gpu').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    const msg = (err as Error).message;
    expect(msg).toContain('npm run setup:native -- --gpu');
    expect(msg).toContain('Set Up Native Backend');
    expect(msg).toContain('CUDA 12 / cuDNN 9');
    expect(msg).toContain('npm i @tensorflow/tfjs-node-gpu');
    expect(msg).toContain('CUDA 11.x + cuDNN 8.x');
    expect(tf.getBackend()).toBe(auto.tfBackend); // a failed forced choice leaves the backend alone
  });

  it('memoryFits: tensors plus the extra bytes under the limit, and on wasm the heap plus the extra under the heap stop', () => {
    const roomy: BackendReport = { ...auto, memoryLimitBytes: tf.memory().numBytes + 100 };
    expect(memoryFits(roomy, 100)).toBe(true);
    expect(memoryFits(roomy, 101)).toBe(false);
    expect(memoryFits({ ...auto, memoryLimitBytes: undefined }, 1e15)).toBe(true);
    const heap = wasmHeapBytes();
    if (heap !== undefined) {
      const huge: BackendReport = { ...auto, memoryLimitBytes: 1e15 };
      expect(memoryFits(huge, WASM_HEAP_STOP_BYTES - heap)).toBe(true);
      expect(memoryFits(huge, WASM_HEAP_STOP_BYTES - heap + 1)).toBe(false); // the tensor limit allows it; the heap does not
    }
  });

  it('checkMemory throws MemoryLimitError with advice when tensors pass a (test-set small) limit', () => {
    const held = tf.zeros([1000]); // 4000 bytes
    try {
      const limit = tf.memory().numBytes - 1000;
      const small: BackendReport = { ...auto, memoryLimitBytes: limit };
      expect(() => checkMemory(small, 'step 3 forward')).toThrow(MemoryLimitError);
      try {
        checkMemory(small, 'step 3 forward');
      } catch (e) {
        const msg = (e as Error).message;
        expect(msg).toMatch(/^step 3 forward: /);
        for (const advice of ['batch size', 'max sequence length', 'LoRA rank', 'layers']) expect(msg).toContain(advice);
      }
      // Under the limit, and extraBytes pushing over it.
      const roomy: BackendReport = { ...auto, memoryLimitBytes: tf.memory().numBytes + 100 };
      expect(() => checkMemory(roomy, 'ok')).not.toThrow();
      expect(() => checkMemory(roomy, 'grads', 101)).toThrow(MemoryLimitError);
      expect(() => checkMemory({ ...auto, memoryLimitBytes: undefined }, 'no limit', 1e15)).not.toThrow();
    } finally {
      held.dispose();
    }
  });

  it('cpu can be forced, and its matMul equals the triple loop within 1e-5', async () => {
    const r = await initBackend('cpu');
    expect(r).toMatchObject({ backend: 'cpu', tfBackend: 'cpu', threads: 1 });
    expect(tf.getBackend()).toBe('cpu');
    expect(r.attempts.find((a) => a.backend === 'wasm')?.reason).toMatch(/forced by setting/);
    const { a, b, ref } = matMulCase(37, 64, 29);
    expect(maxAbsDiff(tfMatMul(a, b, 37, 64, 29), ref)).toBeLessThan(1e-5);
  });
});

describe('workerEnvironment', () => {
  it("keeps the user's variables (and their LD_LIBRARY_PATH first) and sets the TF ones", () => {
    const base = { HOME: '/home/u', LD_LIBRARY_PATH: '/opt/mine/lib:/opt/other', TF_CPP_MIN_LOG_LEVEL: '0' };
    const env = workerEnvironment(base);
    expect(env.HOME).toBe('/home/u');
    expect(env.TF_FORCE_GPU_ALLOW_GROWTH).toBe('true');
    expect(env.TF_CPP_MIN_LOG_LEVEL).toBe('0'); // the user's choice wins
    expect(workerEnvironment({}).TF_CPP_MIN_LOG_LEVEL).toBe('2');
    const dirs = (env.LD_LIBRARY_PATH ?? '').split(':');
    expect(dirs.slice(0, 2)).toEqual(['/opt/mine/lib', '/opt/other']);
    for (const d of dirs.slice(2)) expect(fs.statSync(d).isDirectory()).toBe(true); // only folders that exist
    expect(base.LD_LIBRARY_PATH).toBe('/opt/mine/lib:/opt/other'); // input untouched
  });

  it.runIf(process.platform === 'linux')('adds a CUDA folder only when it exists ($CUDA_HOME/lib64 here)', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cuda-home-'));
    try {
      fs.mkdirSync(path.join(home, 'lib64'));
      const env = workerEnvironment({ LD_LIBRARY_PATH: '/opt/mine', CUDA_HOME: home, CUDA_PATH: path.join(home, 'absent') });
      const dirs = (env.LD_LIBRARY_PATH ?? '').split(':');
      expect(dirs[0]).toBe('/opt/mine');
      expect(dirs).toContain(path.join(home, 'lib64'));
      expect(dirs).not.toContain(path.join(home, 'absent', 'lib64'));
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('findCudaLibraries', () => {
  it('finds CUDA 11 / cuDNN 8 sonames on LD_LIBRARY_PATH and names the missing ones', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cuda-libs-'));
    try {
      for (const lib of ['libcuda.so.1', 'libcudart.so.11.0', 'libcudart.so.12']) fs.writeFileSync(path.join(dir, lib), '');
      const r = findCudaLibraries({ LD_LIBRARY_PATH: dir }, { ldconfig: false, platform: 'linux' });
      expect(r.found['libcudart.so.11.0']).toBe(path.join(dir, 'libcudart.so.11.0'));
      expect(r.missing).toContain('libcudnn.so.8');
      expect(r.missing).not.toContain('libcudart.so.11.0');
      fs.writeFileSync(path.join(dir, 'libcudnn.so.8'), '');
      expect(findCudaLibraries({ LD_LIBRARY_PATH: dir }, { ldconfig: false, platform: 'linux' }).missing).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- Fresh processes: an esbuild bundle of src/core/backend/index.ts (TensorFlow.js external, as in
// dist/worker.js and dist/cli.js) in a folder under node_modules/.cache, so it resolves packages
// the way an installed extension does. A folder can carry a fake @tensorflow/tfjs-node-gpu whose
// behaviour FAKE_TFJS_NODE_GPU picks: the real one cannot be installed offline, and its GPU path
// is exactly the code that must be right on a user's machine.
const FAKE_NATIVE_PACKAGE = `
const tf = require('@tensorflow/tfjs');
const mode = require('./package.json').name === '@tensorflow/tfjs-node' ? 'cpu' : process.env.FAKE_TFJS_NODE_GPU;
if (mode === 'broken') throw new Error('The Node.js native addon module (tfjs_binding.node) can not be found at path: /x/lib/napi-v8/tfjs_binding.node. \\nPlease run command ...');
if (mode === 'missing-dep') require('@mapbox/node-pre-gyp-not-here');
class FakeNodeJSKernelBackend extends tf.KernelBackend {
  constructor() { super(); this.isGPUPackage = true; this.isUsingGpuDevice = mode === 'gpu'; this.binding = { TF_Version: '2.9.1' }; }
}
tf.registerBackend('tensorflow', () => new FakeNodeJSKernelBackend(), 3);
module.exports = { version: { 'tfjs-node': '4.22.0' } };
`;

const DRIVER = `
const tf = require('@tensorflow/tfjs');
const { initBackend } = require('./backend.cjs');
const [choice, threads, shape] = process.argv.slice(2);
const print = (o) => process.stdout.write(JSON.stringify(o));
initBackend(choice, { threads: Number(threads) || undefined }).then((report) => {
  if (!shape) return print({ report });
  const [m, k, n] = shape.split(',').map(Number);
  const { a, b } = require('./inputs.json');
  print({ report, values: Array.from(tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])).dataSync()) });
}, (e) => print({ error: { name: e.name, message: e.message } }));
`;

interface ChildResult { report?: BackendReport; values?: number[]; error?: { name: string; message: string } }

describe('fresh processes on a bundle of backend.ts', () => {
  const M = 128, K = 768, N = 96;
  // Outside the repository, so the real native packages (when set up) cannot be resolved from
  // here: each folder links in TensorFlow.js itself and holds exactly the native packages a case needs.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-lab-backend-'));
  const fakeLibs = path.join(work, 'fake-cuda-libs');
  let bundle = '';

  beforeAll(async () => {
    const built = await esbuild.build({
      entryPoints: [path.join(ROOT, 'src/core/backend/index.ts')], write: false,
      bundle: true, platform: 'node', format: 'cjs', target: 'node20', external: ['@tensorflow/*'], logLevel: 'error',
    });
    bundle = built.outputFiles[0].text;
    fs.mkdirSync(fakeLibs, { recursive: true });
    for (const lib of ['libcuda.so.1', 'libcudart.so.11.0', 'libcudnn.so.8']) fs.writeFileSync(path.join(fakeLibs, lib), '');
    return () => fs.rmSync(work, { recursive: true, force: true });
  });

  /** A folder with the bundle, the driver, and fakes of the named native packages. */
  function folder(name: string, fakes: Array<'tfjs-node-gpu' | 'tfjs-node'>, reals: Array<'tfjs-node-gpu' | 'tfjs-node'> = []): string {
    const dir = path.join(work, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'backend.cjs'), bundle);
    fs.writeFileSync(path.join(dir, 'driver.cjs'), DRIVER);
    const scope = path.join(dir, 'node_modules', '@tensorflow');
    fs.mkdirSync(scope, { recursive: true });
    for (const real of ['tfjs', 'tfjs-backend-wasm', ...reals]) fs.symlinkSync(path.join(ROOT, 'node_modules', '@tensorflow', real), path.join(scope, real), 'dir');
    for (const fake of fakes) {
      const pkg = path.join(scope, fake);
      fs.mkdirSync(path.join(pkg, 'lib', 'napi-v8'), { recursive: true });
      fs.mkdirSync(path.join(pkg, 'deps', 'lib'), { recursive: true });
      fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: `@tensorflow/${fake}`, version: '4.22.0', main: 'index.js' }));
      fs.writeFileSync(path.join(pkg, 'index.js'), FAKE_NATIVE_PACKAGE);
      // What a classic install leaves: the addon and its own libtensorflow (empty stand-ins: never loaded).
      fs.writeFileSync(path.join(pkg, 'lib', 'napi-v8', 'tfjs_binding.node'), '');
      fs.writeFileSync(path.join(pkg, 'deps', 'lib', 'libtensorflow_framework.so.2'), '');
    }
    return dir;
  }

  /** Runs the driver; no process.exit anywhere, so the child must also end on its own. */
  function run(dir: string, args: string[], env: Record<string, string | undefined> = {}): ChildResult {
    const out = execFileSync(process.execPath, [path.join(dir, 'driver.cjs'), ...args], {
      encoding: 'utf8', timeout: 90_000, env: { ...process.env, LD_LIBRARY_PATH: '', ...env },
    });
    return JSON.parse(out) as ChildResult;
  }

  it('multi-threaded wasm: 2 threads really run, and its matMul equals single-thread and the triple loop within 1e-5', () => {
    const dir = folder('wasm', []);
    const { a, b, ref } = matMulCase(M, K, N);
    fs.writeFileSync(path.join(dir, 'inputs.json'), JSON.stringify({ a: [...a], b: [...b] }));
    const one = run(dir, ['wasm', '1', `${M},${K},${N}`]);
    const two = run(dir, ['wasm', '2', `${M},${K},${N}`]);
    expect(one.report).toMatchObject({ backend: 'wasm', threads: 1, simd: true });
    expect(two.report).toMatchObject({ backend: 'wasm', threads: 2, simd: true, notes: [] });
    expect(maxAbsDiff(two.values!, one.values!)).toBeLessThan(1e-5);
    expect(maxAbsDiff(two.values!, ref)).toBeLessThan(1e-5);
    expect(maxAbsDiff(one.values!, ref)).toBeLessThan(1e-5);
  });

  it("a half-installed tfjs-node-gpu (no tfjs_binding.node) gets its own reason, and auto moves on to wasm", () => {
    const r = run(folder('broken', ['tfjs-node-gpu']), ['auto'], { FAKE_TFJS_NODE_GPU: 'broken', LD_LIBRARY_PATH: fakeLibs }).report!;
    expect(r.backend).toBe('wasm');
    expect(r.attempts[0].reason).toMatch(/^installed, but its native addon tfjs_binding\.node is missing/);
    const dep = run(folder('dep', ['tfjs-node-gpu']), ['auto'], { FAKE_TFJS_NODE_GPU: 'missing-dep', LD_LIBRARY_PATH: fakeLibs }).report!;
    expect(dep.attempts[0].reason).toMatch(/^installed, but a dependency is missing: .*node-pre-gyp-not-here/);
  });

  it('tfjs-node-gpu whose TensorFlow registers no GPU device is reported as running on CPU; forced, it throws', () => {
    const dir = folder('cpu-fallback', ['tfjs-node-gpu']);
    const r = run(dir, ['auto'], { FAKE_TFJS_NODE_GPU: 'cpu', LD_LIBRARY_PATH: fakeLibs }).report!;
    expect(r).toMatchObject({ backend: 'tensorflow-gpu', tfBackend: 'tensorflow', device: 'cpu' });
    expect(r.attempts[0]).toMatchObject({ ok: true, reason: 'loaded but TensorFlow registered no GPU device: running on CPU' });
    expect(r.attempts[1].reason).toBe('skipped: a higher-priority backend loaded');
    expect(r.versions).toMatchObject({ 'tfjs-node-gpu': '4.22.0', tensorflow: '2.9.1' });
    const forced = run(dir, ['tensorflow-gpu'], { FAKE_TFJS_NODE_GPU: 'cpu', LD_LIBRARY_PATH: fakeLibs });
    expect(forced.error?.name).toBe('BackendUnavailableError');
    expect(forced.error?.message).toContain('registered no GPU device');
  });

  it('tfjs-node-gpu on a GPU device reports device gpu', () => {
    const r = run(folder('gpu', ['tfjs-node-gpu']), ['auto'], { FAKE_TFJS_NODE_GPU: 'gpu', LD_LIBRARY_PATH: fakeLibs }).report!;
    expect(r).toMatchObject({ backend: 'tensorflow-gpu', device: 'gpu' });
    expect(r.attempts[0].reason).toBe('loaded (classic package: its own libtensorflow), GPU device in use');
  });

  it('a native package without libtensorflow (its download script never ran) is refused with the set-up command', () => {
    const dir = folder('no-deps', ['tfjs-node']);
    fs.rmSync(path.join(dir, 'node_modules', '@tensorflow', 'tfjs-node', 'deps'), { recursive: true });
    const r = run(dir, ['auto']).report!;
    expect(r.backend).toBe('wasm');
    expect(r.attempts[1].reason).toBe('installed, but it has no libtensorflow (deps/lib is missing: its download script did not run)');
    const forced = run(dir, ['tensorflow']);
    expect(forced.error?.message).toContain('npm run setup:native');
  });

  describe.skipIf(!NATIVE_CPU_READY)('the real tfjs-node set up from PyPI', () => {
    it('--threads 1 reaches TensorFlow (TF_NUM_INTRAOP_THREADS before load), and its matMul equals the triple loop within 1e-5', () => {
      const dir = folder('real-cpu', [], ['tfjs-node']);
      const { a, b, ref } = matMulCase(M, K, N);
      fs.writeFileSync(path.join(dir, 'inputs.json'), JSON.stringify({ a: [...a], b: [...b] }));
      const r = run(dir, ['tensorflow', '1', `${M},${K},${N}`], { TF_NUM_INTRAOP_THREADS: undefined });
      expect(r.report).toMatchObject({ backend: 'tensorflow', device: 'cpu', threads: 1 });
      // Set up by LoRA Lab (deps/lib → <install>/site/tensorflow, with the install record two levels up) or the classic way.
      const libDir = fs.realpathSync(path.join(ROOT, 'node_modules', '@tensorflow', 'tfjs-node', 'deps', 'lib'));
      const fromPyPI = fs.existsSync(path.join(libDir, '..', '..', 'lora-lab-native.json'));
      expect(r.report!.native?.source).toBe(fromPyPI ? 'pypi-wheel' : 'classic');
      expect(r.report!.native?.library).toBe(path.join(libDir, 'libtensorflow_framework.so.2'));
      expect(maxAbsDiff(r.values!, ref)).toBeLessThan(1e-5);
    });
  });

  describe.skipIf(!ready('@tensorflow/tfjs-node-gpu') || findCudaLibraries({ LD_LIBRARY_PATH: '' }).found['libcuda.so.1'] !== undefined)('the real tfjs-node-gpu (CUDA 12 build from PyPI) on a machine without an NVIDIA driver', () => {
    it('auto skips it for tfjs-node with the reason; alone it runs on the CPU and says why; forced, it throws', () => {
      const both = run(folder('real-gpu-both', [], ['tfjs-node-gpu', 'tfjs-node']), ['auto']).report!;
      expect(both.backend).toBe('tensorflow');
      expect(both.attempts[0].reason).toMatch(/^no NVIDIA driver \(libcuda\.so\.1 not found\): TensorFlow 2\.21\.0's CUDA 12 build would run on the CPU$/);
      const dir = folder('real-gpu-alone', [], ['tfjs-node-gpu']);
      const alone = run(dir, ['auto']).report!;
      expect(alone).toMatchObject({ backend: 'tensorflow-gpu', device: 'cpu' });
      expect(alone.attempts[0].reason).toMatch(/^no NVIDIA driver .*: loaded as a CPU-only TensorFlow \(no @tensorflow\/tfjs-node set up\)$/);
      expect(alone.notes.join(' ')).toContain('tensorflow-gpu is running on the CPU: no NVIDIA driver');
      expect(alone.native?.cuda?.driver).toBeUndefined();
      expect(alone.native?.cuda?.missing).toEqual([]); // every CUDA 12 library of the wheels is there: only the driver is not
      expect(formatBackendReport(alone)).toContain('CUDA       driver not found (libcuda.so.1): no NVIDIA driver on this machine');
      const forced = run(dir, ['tensorflow-gpu']);
      expect(forced.error?.message).toContain('no NVIDIA driver');
    });
  });

  describe.skipIf(findCudaLibraries({ LD_LIBRARY_PATH: '' }).missing.length === 0)('on a machine without CUDA 11 libraries', () => {
    it('auto skips tfjs-node-gpu for tfjs-node, naming the missing libraries', () => {
      const r = run(folder('no-cuda-node', ['tfjs-node-gpu', 'tfjs-node']), ['auto'], { FAKE_TFJS_NODE_GPU: 'gpu' }).report!;
      expect(r).toMatchObject({ backend: 'tensorflow', device: 'cpu' });
      expect(r.attempts[0].ok).toBe(false);
      expect(r.attempts[0].reason).toMatch(/^CUDA 11 libraries not found: .*libcudart\.so\.11\.0.*libcudnn\.so\.8/);
    });

    it('without tfjs-node, auto uses tfjs-node-gpu as a CPU TensorFlow and says so; forced, it throws', () => {
      const dir = folder('no-cuda', ['tfjs-node-gpu']);
      const r = run(dir, ['auto'], { FAKE_TFJS_NODE_GPU: 'cpu' }).report!;
      expect(r).toMatchObject({ backend: 'tensorflow-gpu', device: 'cpu' });
      expect(r.attempts[0].reason).toMatch(/^CUDA 11 libraries not found: .*: loaded as a CPU-only TensorFlow \(no @tensorflow\/tfjs-node set up\)$/);
      expect(r.notes.join(' ')).toMatch(/libcudart\.so\.11\.0/);
      const forced = run(dir, ['tensorflow-gpu'], { FAKE_TFJS_NODE_GPU: 'cpu' });
      expect(forced.error?.message).toMatch(/CUDA 11 libraries not found: .*libcudnn\.so\.8/);
    });
  });
});
