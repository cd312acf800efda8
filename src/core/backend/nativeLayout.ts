// Where LoRA Lab keeps native TensorFlow taken from PyPI's wheels, and what an install holds.
// No TensorFlow.js import: the extension host (worker environment, Set Up Native Backend…) uses it.
//
// An install is a folder laid out like the part of a Python site-packages that matters:
//   <home>/tensorflow-<variant>-<version>/
//     lora-lab-native.json          the record below (written last: no record, no install)
//     site/tensorflow/              libtensorflow_cc.so.2, libtensorflow_framework.so.2 (+ link names)
//     site/nvidia/<name>/lib/       GPU only: the CUDA 12 / cuDNN 9 libraries of the nvidia-*-cu12 wheels
//     include/                      the 14 C headers the tfjs-node binding compiles against
// The site/ layout is kept because libtensorflow_framework.so.2 looks for CUDA in
// $ORIGIN/../nvidia/<name>/lib, exactly where pip would have put those wheels.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type NativeVariant = 'cpu' | 'gpu';

/** The TensorFlow release taken from PyPI. Its C API is what tfjs-node 4.22's binding calls. */
export const TF_WHEEL_VERSION = '2.21.0';

/** PyPI project per variant: `tensorflow-cpu` (274 MB) or `tensorflow` (572 MB, CUDA kernels sm_60…sm_90). */
export const TF_WHEEL_PROJECT: Record<NativeVariant, string> = { cpu: 'tensorflow-cpu', gpu: 'tensorflow' };

/**
 * The nvidia-*-cu12 wheels of `tensorflow[and-cuda]==2.21.0` (its METADATA's ranges, e.g.
 * nvidia-cudnn-cu12 >=9.3.0.75,<10), each pinned to the newest release in range on 2026-12-03, so
 * every machine gets the same CUDA 12.9 / cuDNN 9. nvidia-cuda-nvcc-cu12 is left out: it carries
 * ptxas for XLA, which tfjs never uses. ~2.8 GB of downloads in all; NVIDIA's licence: fetched on
 * the user's machine, never redistributed.
 */
export const NVIDIA_WHEELS: ReadonlyArray<{ project: string; version: string; filename: string }> = [
  { project: 'nvidia-cublas-cu12', version: '12.9.3.13', filename: 'nvidia_cublas_cu12-12.9.3.13-py3-none-manylinux_2_27_x86_64.whl' },
  { project: 'nvidia-cuda-cupti-cu12', version: '12.9.79', filename: 'nvidia_cuda_cupti_cu12-12.9.79-py3-none-manylinux_2_25_x86_64.whl' },
  { project: 'nvidia-cuda-nvrtc-cu12', version: '12.9.86', filename: 'nvidia_cuda_nvrtc_cu12-12.9.86-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl' },
  { project: 'nvidia-cuda-runtime-cu12', version: '12.9.79', filename: 'nvidia_cuda_runtime_cu12-12.9.79-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl' },
  { project: 'nvidia-cudnn-cu12', version: '9.28.0.42', filename: 'nvidia_cudnn_cu12-9.28.0.42-py3-none-manylinux_2_27_x86_64.whl' },
  { project: 'nvidia-cufft-cu12', version: '11.4.1.4', filename: 'nvidia_cufft_cu12-11.4.1.4-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl' },
  { project: 'nvidia-curand-cu12', version: '10.3.10.19', filename: 'nvidia_curand_cu12-10.3.10.19-py3-none-manylinux_2_27_x86_64.whl' },
  { project: 'nvidia-cusolver-cu12', version: '11.7.5.82', filename: 'nvidia_cusolver_cu12-11.7.5.82-py3-none-manylinux_2_27_x86_64.whl' },
  { project: 'nvidia-cusparse-cu12', version: '12.5.10.65', filename: 'nvidia_cusparse_cu12-12.5.10.65-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl' },
  { project: 'nvidia-nccl-cu12', version: '2.32.3', filename: 'nvidia_nccl_cu12-2.32.3-py3-none-manylinux_2_27_x86_64.whl' },
  { project: 'nvidia-nvjitlink-cu12', version: '12.9.86', filename: 'nvidia_nvjitlink_cu12-12.9.86-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.whl' },
];

export const MANIFEST_NAME = 'lora-lab-native.json';

export interface WheelRecord {
  project: string;
  version: string;
  filename: string;
  sha256: string;
  size: number;
  url: string;
}

/** The record of a finished install (lora-lab-native.json). */
export interface NativeInstall {
  variant: NativeVariant;
  tensorflow: string;
  /** The install folder (not stored: where the record was read). */
  root: string;
  wheel: WheelRecord;
  nvidia: WheelRecord[];
  createdAt: string;
}

/** Per-user cache root: $XDG_CACHE_HOME/lora-lab or ~/.cache/lora-lab. */
export function userCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'lora-lab');
}

/** Downloaded wheels, shared by every home (the CLI's cache and the extension's global storage). */
export function wheelCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(userCacheRoot(env), 'wheels');
}

/**
 * Where native installs live: LORA_LAB_NATIVE_HOME (the extension sets it to its global storage
 * for the worker it forks), else the per-user cache.
 */
export function nativeHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.LORA_LAB_NATIVE_HOME || path.join(userCacheRoot(env), 'native');
}

export function installRoot(home: string, variant: NativeVariant, version = TF_WHEEL_VERSION): string {
  return path.join(home, `tensorflow-${variant}-${version}`);
}

/** The folder holding libtensorflow_cc.so.2 and libtensorflow_framework.so.2. */
export function tfLibDir(root: string): string {
  return path.join(root, 'site', 'tensorflow');
}

export function includeDir(root: string): string {
  return path.join(root, 'include');
}

export const TF_LIBS = ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2'] as const;
/** The names the tfjs-node binding links with (-ltensorflow -ltensorflow_framework). */
export const TF_LINK_NAMES: Record<string, string> = { 'libtensorflow.so': 'libtensorflow_cc.so.2', 'libtensorflow_framework.so': 'libtensorflow_framework.so.2' };

/** The library folders of an install, for LD_LIBRARY_PATH: TensorFlow's, then each nvidia wheel's. */
export function nativeLibraryDirs(install: NativeInstall): string[] {
  const dirs = [tfLibDir(install.root)];
  const nvidia = path.join(install.root, 'site', 'nvidia');
  if (install.variant === 'gpu' && isDir(nvidia)) {
    for (const name of fs.readdirSync(nvidia).sort()) {
      const lib = path.join(nvidia, name, 'lib');
      if (isDir(lib)) dirs.push(lib);
    }
  }
  return dirs;
}

/** Reads an install's record; undefined when there is none or a library it names is gone. */
export function readNativeInstall(root: string): NativeInstall | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(path.join(root, MANIFEST_NAME), 'utf8'));
  } catch {
    return undefined;
  }
  const rec = decodeInstall(raw, root);
  if (!rec) return undefined;
  if (!TF_LIBS.every((lib) => fs.existsSync(path.join(tfLibDir(root), lib)))) return undefined;
  return rec;
}

/** The install of `variant` in `home`, if finished. */
export function findNativeInstall(home: string, variant: NativeVariant): NativeInstall | undefined {
  return readNativeInstall(installRoot(home, variant));
}

/** The install record above a loaded libtensorflow file (site/tensorflow/<lib> → the install root). */
export function installOfLibrary(libFile: string): NativeInstall | undefined {
  const real = safeRealpath(libFile);
  return readNativeInstall(path.resolve(path.dirname(real), '..', '..'));
}

function decodeInstall(raw: unknown, root: string): NativeInstall | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (r.variant !== 'cpu' && r.variant !== 'gpu') return undefined;
  if (typeof r.tensorflow !== 'string' || typeof r.createdAt !== 'string') return undefined;
  const wheel = decodeWheel(r.wheel);
  if (!wheel || !Array.isArray(r.nvidia)) return undefined;
  const nvidia = r.nvidia.map(decodeWheel);
  if (nvidia.some((w) => w === undefined)) return undefined;
  return { variant: r.variant, tensorflow: r.tensorflow, root, wheel, nvidia: nvidia as WheelRecord[], createdAt: r.createdAt };
}

function decodeWheel(raw: unknown): WheelRecord | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const w = raw as Record<string, unknown>;
  const strings = ['project', 'version', 'filename', 'sha256', 'url'] as const;
  if (!strings.every((k) => typeof w[k] === 'string') || typeof w.size !== 'number') return undefined;
  return { project: w.project as string, version: w.version as string, filename: w.filename as string, sha256: w.sha256 as string, size: w.size, url: w.url as string };
}

export function writeNativeInstall(install: NativeInstall): void {
  const { root, ...record } = install;
  const file = path.join(root, MANIFEST_NAME);
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

/** Can this machine use a wheel's Linux x86_64 libraries at all? Undefined when yes, else why not. */
export function nativeUnsupportedReason(platform: NodeJS.Platform = process.platform, arch: string = process.arch): string | undefined {
  if (platform !== 'linux') return `native TensorFlow from PyPI is set up on Linux only (this is ${platform}); ${platform === 'darwin' || platform === 'win32' ? 'wasm stays the backend, or install @tensorflow/tfjs-node the classic way (with internet)' : 'wasm stays the backend'}`;
  if (arch !== 'x64') return `native TensorFlow from PyPI is set up on x86_64 only (this is ${arch}); wasm stays the backend`;
  return undefined;
}

export function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function safeRealpath(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}
