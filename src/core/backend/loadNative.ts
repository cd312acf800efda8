// Loading @tensorflow/tfjs-node(-gpu): which libtensorflow the addon will take (the PyPI install
// set up by `lora-lab setup-native`, or the classic package's own), the CUDA checks for the GPU
// package (CUDA 12 from the nvidia wheels, or CUDA 11 for the classic one), threads and oneDNN
// (read once, at load), and the report of what really loaded.
import * as fs from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { AttemptFailed, BACKEND_PACKAGES, errorText, firstLine, type Loaded } from './attempt';
import { CUDA12_DRIVER, findCuda12Libraries, findCudaLibraries } from './cudaEnv';
import { loadFusedOps } from './fusedOps';
import { bindingFile, loraLabRoot } from './nativeBinding';
import { TF_WHEEL_VERSION } from './nativeLayout';
import { describeLibrary, libtensorflowDir, mappedLibraries, nativeMemoryLimitBytes, type NativeSourceInfo } from './nativeSource';
import { nodeRequire } from './wasmThreads';

const CUDA_NEEDS = 'tfjs-node-gpu 4.22 needs the NVIDIA driver, CUDA 11.x (built for 11.2) and cuDNN 8.x; with CUDA 12 / cuDNN 9 only it silently runs on the CPU';

/** How to get a native package working: the registries-only set-up first, the classic install second. */
function installFix(pkg: string, gpu: boolean): string {
  let where: string | undefined;
  try {
    where = loraLabRoot();
  } catch {
    where = undefined; // only named in the advice
  }
  const setup = `npm run setup:native${gpu ? ' -- --gpu' : ''}${where ? ` (in ${where})` : ''}, or in VS Code *LoRA Lab: Set Up Native Backend…*`;
  const classic = `npm i ${pkg}@${tf.version.tfjs}, whose install script downloads libtensorflow 2.9.1 from Google storage${gpu ? ' (CUDA 11.x + cuDNN 8.x only)' : ''}`;
  return `Set it up from PyPI's TensorFlow ${TF_WHEEL_VERSION} wheel with ${setup}${gpu ? ' (CUDA 12 / cuDNN 9 from the nvidia-*-cu12 wheels, needs an NVIDIA driver)' : ''}; or the classic way: ${classic}.`;
}

/** True when `pkg` is installed with its binding and a libtensorflow to load. */
function nativeReady(req: NodeRequire, pkg: string): boolean {
  try {
    const dir = path.dirname(req.resolve(`${pkg}/package.json`));
    return fs.existsSync(bindingFile(dir)) && libtensorflowDir(dir) !== undefined;
  } catch {
    return false;
  }
}

/** @tensorflow/tfjs-node(-gpu): libtensorflow through N-API. */
export async function loadNative(gpu: boolean, forced: boolean, opts: { threads?: number }, notes: string[]): Promise<Loaded> {
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
  // LoRA Lab's fused CPU kernels (fusedOps.ts): for a CPU device only (they are CPU kernels).
  if (native && !onGpu) native.fusedOps = loadFusedOps(path.dirname(bindingFile(pkgDir)));
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

