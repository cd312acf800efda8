// Where the CUDA libraries tfjs-node-gpu needs are — CUDA 11 / cuDNN 8 for the classic package
// (libtensorflow 2.9.1), CUDA 12 / cuDNN 9 from the nvidia-*-cu12 wheels for TensorFlow 2.21 from
// PyPI — and the environment the forked training worker starts with. No TensorFlow.js import: the
// extension host uses this module.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findNativeInstall, isDir, nativeHome, nativeLibraryDirs, type NativeInstall } from './nativeLayout';

/** The sonames tfjs-node-gpu 4.22 (libtensorflow 2.9.1, built for CUDA 11.2) dlopens. */
export const CUDA_LIBS: Record<string, string[]> = {
  linux: ['libcuda.so.1', 'libcudart.so.11.0', 'libcudnn.so.8'],
  win32: ['nvcuda.dll', 'cudart64_110.dll', 'cudnn64_8.dll'],
};
/**
 * What TensorFlow 2.21 (PyPI, built for CUDA 12.x / cuDNN 9) dlopens: the driver from the system,
 * the rest from the nvidia-*-cu12 wheels of the install (site/nvidia/<name>/lib).
 */
export const CUDA12_DRIVER = 'libcuda.so.1';
export const CUDA12_WHEEL_LIBS = ['libcudart.so.12', 'libcublas.so.12', 'libcublasLt.so.12', 'libcudnn.so.9', 'libcufft.so.11', 'libcurand.so.10', 'libcusolver.so.11', 'libcusparse.so.12', 'libnvJitLink.so.12', 'libnccl.so.2'];

export interface Cuda12Libraries {
  /** Path of libcuda.so.1 (the NVIDIA driver), when the loader can find it. */
  driver?: string;
  /** Library → path inside the install. */
  found: Record<string, string>;
  missing: string[];
}

/** The CUDA 12 libraries of a GPU install, and whether the machine has an NVIDIA driver at all. */
export function findCuda12Libraries(install: NativeInstall, env: NodeJS.ProcessEnv = process.env, opts: { ldconfig?: boolean } = {}): Cuda12Libraries {
  const dirs = nativeLibraryDirs(install).slice(1);
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const lib of CUDA12_WHEEL_LIBS) {
    const hit = dirs.map((d) => path.join(d, lib)).find((p) => fs.existsSync(p));
    if (hit) found[lib] = hit;
    else missing.push(lib);
  }
  const driver = findCudaLibraries(env, { ldconfig: opts.ldconfig, platform: 'linux' }).found[CUDA12_DRIVER];
  return { ...(driver ? { driver } : {}), found, missing };
}

export interface CudaLibraries {
  /** Library → path, for the ones the dynamic loader will find. */
  found: Record<string, string>;
  missing: string[];
  /** Library → folder, for missing ones that exist in a folder that is not on the loader path. */
  offLoaderPath: Record<string, string>;
}

/**
 * Looks for the CUDA 11 / cuDNN 8 libraries tfjs-node-gpu needs where the dynamic loader looks
 * (LD_LIBRARY_PATH, the ldconfig cache, the default folders; PATH on Windows), and in the usual
 * install folders that may not be on the loader path (/usr/local/cuda-11*, …).
 */
export function findCudaLibraries(env: NodeJS.ProcessEnv = process.env, opts: { ldconfig?: boolean; platform?: NodeJS.Platform } = {}): CudaLibraries {
  const platform = opts.platform ?? process.platform;
  const libs = CUDA_LIBS[platform] ?? CUDA_LIBS.linux;
  const windows = platform === 'win32';
  const loaderDirs = splitPath(windows ? env.PATH ?? env.Path : env.LD_LIBRARY_PATH, windows);
  if (windows) loaderDirs.push(path.join(env.SystemRoot ?? 'C:\\Windows', 'System32'));
  else loaderDirs.push('/lib', '/usr/lib', '/lib64', '/usr/lib64', '/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu');
  const cache = !windows && opts.ldconfig !== false ? ldconfigCache() : new Map<string, string>();
  const found: Record<string, string> = {};
  const offLoaderPath: Record<string, string> = {};
  const missing: string[] = [];
  const extra = windows ? (env.CUDA_PATH ? [path.join(env.CUDA_PATH, 'bin')] : []) : cudaInstallDirs(env);
  for (const lib of libs) {
    const cached = cache.get(lib);
    const hit = cached ?? loaderDirs.map((d) => path.join(d, lib)).find((p) => fs.existsSync(p));
    if (hit) {
      found[lib] = hit;
      continue;
    }
    missing.push(lib);
    const elsewhere = extra.find((d) => fs.existsSync(path.join(d, lib)));
    if (elsewhere) offLoaderPath[lib] = elsewhere;
  }
  return { found, missing, offLoaderPath };
}

/** soname → path from `ldconfig -p` (empty when ldconfig is unavailable). */
function ldconfigCache(): Map<string, string> {
  const map = new Map<string, string>();
  for (const bin of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    try {
      const out = execFileSync(bin, ['-p'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
      // "\tlibcudart.so.11.0 (libc6,x86-64) => /usr/local/cuda-11.8/lib64/libcudart.so.11.0"
      for (const m of out.matchAll(/^\s*(\S+) \(([^)]*)\) => (.+)$/gm)) if (!map.has(m[1]) && !/i386|x32/.test(m[2])) map.set(m[1], m[3].trim());
      return map;
    } catch {
      // try the next location
    }
  }
  return map;
}

/** Existing folders where CUDA 11 / cuDNN 8 usually live, CUDA 11 newest first. */
function cudaInstallDirs(env: NodeJS.ProcessEnv): string[] {
  const dirs: string[] = [];
  for (const root of ['/usr/local', '/opt']) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(root).filter((n) => /^cuda-11(\.\d+)*$/.test(n));
    } catch {
      continue;
    }
    names.sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
    for (const n of names) dirs.push(path.join(root, n, 'lib64'), path.join(root, n, 'targets', 'x86_64-linux', 'lib'));
  }
  for (const home of [env.CUDA_HOME, env.CUDA_PATH]) if (home) dirs.push(path.join(home, 'lib64'));
  dirs.push('/usr/local/cuda/lib64', '/opt/cuda/lib64', '/usr/local/cudnn/lib64', '/usr/lib/wsl/lib');
  return [...new Set(dirs)].filter((d) => isDir(d));
}

/**
 * Environment for the forked training worker. The dynamic loader reads LD_LIBRARY_PATH only at
 * process start, so CUDA 11 folders that exist are appended here, after the user's own entries.
 * TF_FORCE_GPU_ALLOW_GROWTH stops TensorFlow from reserving all GPU memory up front;
 * TF_CPP_MIN_LOG_LEVEL=2 silences its info logs; CUDA_CACHE_MAXSIZE keeps the PTX JIT cache
 * (minutes of compiling on Ampere and newer) from being evicted; TF_NUM_INTRAOP_THREADS sets
 * native TensorFlow's threads (read once, at load). Values the user set win.
 */
export function workerEnvironment(base: NodeJS.ProcessEnv, opts: { threads?: number } = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  env.TF_FORCE_GPU_ALLOW_GROWTH ??= 'true';
  env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  env.CUDA_CACHE_MAXSIZE ??= String(2 ** 31);
  // TensorFlow sizes its intra-op pool when the library loads: one thread per core unless told.
  env.TF_NUM_INTRAOP_THREADS ??= String(opts.threads ?? os.availableParallelism());
  env.TF_ENABLE_ONEDNN_OPTS ??= '1'; // oneDNN's matMul on every x86 CPU (see initBackend's measurements)
  if (process.platform === 'linux') {
    const own = splitPath(base.LD_LIBRARY_PATH, false);
    // The CUDA 12 wheels of a GPU install from PyPI: libtensorflow finds most through its own
    // RUNPATH ($ORIGIN/../nvidia/<name>/lib), but cuSPARSE → nvJitLink and the dlopen'd cuRAND
    // are not all on it. TensorFlow's own folder is never added here: the CPU and GPU builds share
    // sonames, and each tfjs-node package finds its own through deps/lib.
    const gpu = findNativeInstall(nativeHome(base), 'gpu');
    const nvidia = gpu ? nativeLibraryDirs(gpu).slice(1) : [];
    const added = [...nvidia, ...cudaInstallDirs(base)].filter((d) => !own.includes(d));
    if (added.length > 0) env.LD_LIBRARY_PATH = [...own, ...added].join(path.delimiter);
  }
  return env;
}

function splitPath(value: string | undefined, windows: boolean): string[] {
  return (value ?? '').split(windows ? ';' : ':').filter((d) => d.length > 0);
}

