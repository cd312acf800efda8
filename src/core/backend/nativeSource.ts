// Which libtensorflow a tfjs-node(-gpu) package will load, and which it did: the PyPI wheel set up
// by `lora-lab setup-native` / *Set Up Native Backend…* (with its install record), or the classic
// package's own libtensorflow 2.9.1 from its download script. No TensorFlow.js import.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { installOfLibrary, safeRealpath, type NativeInstall } from './nativeLayout';

export interface NativeSourceInfo {
  /** 'pypi-wheel': set up by LoRA Lab from PyPI; 'classic': the npm package's own download. */
  source: 'pypi-wheel' | 'classic';
  /** The libtensorflow_framework the process mapped (or will map, before load). */
  library: string;
  /** "tensorflow-cpu 2.21.0" for a PyPI install. */
  wheel?: string;
  installRoot?: string;
  variant?: 'cpu' | 'gpu';
  /** Whether TensorFlow loaded with oneDNN's kernels (TF_ENABLE_ONEDNN_OPTS at load). */
  onednn?: boolean;
  /** GPU builds: the driver and the CUDA libraries found (and, after load, mapped). */
  cuda?: { driver?: string; libraries: Record<string, string>; missing: string[] };
  /** LoRA Lab's fused CPU kernels (fusedOps.ts): loaded, or why not. CPU device only. */
  fusedOps?: { loaded: boolean; file?: string; ops?: string[]; threads?: number; lanes?: number; reason?: string };
}

const FRAMEWORK = 'libtensorflow_framework.so.2';

/**
 * The folder the package's binding will take libtensorflow from: LD_LIBRARY_PATH first (the
 * loader searches it before the binding's RUNPATH), then the package's deps/lib.
 */
export function libtensorflowDir(packageDir: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const d of (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)) if (fs.existsSync(path.join(d, FRAMEWORK))) return d;
  const deps = path.join(packageDir, 'deps', 'lib');
  return fs.existsSync(path.join(deps, FRAMEWORK)) ? deps : undefined;
}

/** Describes a libtensorflow folder or file: PyPI install (with its record) or classic package. */
export function describeLibrary(libFileOrDir: string): NativeSourceInfo & { install?: NativeInstall } {
  const file = fs.statSync(libFileOrDir, { throwIfNoEntry: false })?.isDirectory() ? path.join(libFileOrDir, FRAMEWORK) : libFileOrDir;
  const install = installOfLibrary(file);
  if (!install) return { source: 'classic', library: safeRealpath(file) };
  return {
    source: 'pypi-wheel',
    library: safeRealpath(file),
    wheel: `${install.wheel.project} ${install.wheel.version}`,
    installRoot: install.root,
    variant: install.variant,
    install,
  };
}

/** Shared objects this process has mapped whose file name matches `pattern` (Linux: /proc/self/maps). */
export function mappedLibraries(pattern: RegExp): string[] {
  let maps: string;
  try {
    maps = fs.readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return [];
  }
  const out = new Set<string>();
  for (const line of maps.split('\n')) {
    const file = line.split(/\s+/).slice(5).join(' ');
    if (file.startsWith('/') && pattern.test(path.basename(file))) out.add(file);
  }
  return [...out];
}

/**
 * Tensor bytes a native CPU run may hold: 70% of the machine's memory (or of the cgroup's limit,
 * in a container), leaving room for TensorFlow's allocator slack, the JS heap and the OS. There is
 * no 4 GiB heap as on wasm: a model fits when the machine has the memory.
 */
export function nativeMemoryLimitBytes(): { bytes: number; machineBytes: number } {
  const machineBytes = Math.min(os.totalmem(), cgroupMemoryLimit() ?? Infinity);
  return { bytes: Math.floor(0.7 * machineBytes), machineBytes };
}

function cgroupMemoryLimit(): number | undefined {
  for (const f of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const v = fs.readFileSync(f, 'utf8').trim();
      const n = Number(v);
      if (v !== 'max' && Number.isFinite(n) && n > 0 && n < 2 ** 60) return n;
    } catch {
      // not in a cgroup with a limit
    }
  }
  return undefined;
}
