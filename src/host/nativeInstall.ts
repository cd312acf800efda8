// The extension's side of native TensorFlow, without UI: the installed extension carries the
// prebuilt tfjs-node N-API binding (the linux-x64 .vsix), the libraries live in the extension's
// global storage (<globalStorage>/native, set up by *Set Up Native Backend…*), and the packages'
// deps/ folders in the extension are symlinks to them, so the binding's RUNPATH
// ($ORIGIN/../../deps/lib) finds libtensorflow. No compiler, no Python, no vscode import.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { workerEnvironment } from '../core/backend/cudaEnv';
import { bindingFile, linkPackage, loadCheckScript, packageDir, packageState, parseLoadCheck, type LoadCheck } from '../core/backend/nativeBinding';
import { findNativeInstall, nativeUnsupportedReason, type NativeInstall, type NativeVariant } from '../core/backend/nativeLayout';

export const VARIANTS: NativeVariant[] = ['cpu', 'gpu'];

/** Where the extension keeps its native installs: <globalStorage>/native (LORA_LAB_NATIVE_HOME of its worker). */
export function extensionNativeHome(globalStorage: string): string {
  return path.join(globalStorage, 'native');
}

/** The environment the extension gives the training worker (workerEnvironment adds the rest). */
export function workerBaseEnv(globalStorage: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, LORA_LAB_NATIVE_HOME: extensionNativeHome(globalStorage) };
}

export function bindingPath(variant: NativeVariant, extensionRoot: string): string {
  return bindingFile(packageDir(variant, extensionRoot));
}

/** Does this extension carry the prebuilt binding (the linux-x64 .vsix, or a checkout after setup-native)? */
export function hasShippedBinding(extensionRoot: string): boolean {
  return fs.existsSync(bindingPath('cpu', extensionRoot));
}

/** Can the variant be set up here at all? Undefined when yes, else why not (the message says wasm stays). */
export function variantUnavailable(variant: NativeVariant, extensionRoot: string): string | undefined {
  const unsupported = nativeUnsupportedReason();
  if (unsupported) return unsupported;
  if (!hasShippedBinding(extensionRoot)) return 'this build of LoRA Lab carries no native TensorFlow binding (the linux-x64 package does); wasm stays the backend';
  if (!fs.existsSync(path.join(packageDir(variant, extensionRoot), 'package.json'))) return `this build of LoRA Lab does not include ${variant === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node'}; wasm stays the backend`;
  return undefined;
}

/** Finished installs in `home`, GPU first (the order the worker tries them). */
export function installsIn(home: string): NativeInstall[] {
  return (['gpu', 'cpu'] as const).map((v) => findNativeInstall(home, v)).filter((i): i is NativeInstall => i !== undefined);
}

/** An NVIDIA kernel driver is loaded (a hint for the quick pick; TensorFlow decides for real). */
export function nvidiaDriverLoaded(): boolean {
  return fs.existsSync('/proc/driver/nvidia/version');
}

/**
 * Points the extension's package for `variant` at `install`. The .vsix carries one copy of the
 * binding (tfjs-node's; tfjs-node-gpu's is byte-identical): the GPU package gets a copy first.
 */
export function linkInstall(variant: NativeVariant, install: NativeInstall, extensionRoot: string): void {
  if (variant === 'gpu') {
    const target = bindingPath('gpu', extensionRoot);
    if (!fs.existsSync(target)) {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.copyFileSync(bindingPath('cpu', extensionRoot), `${target}.tmp`);
      fs.renameSync(`${target}.tmp`, target);
    }
  }
  linkPackage(variant, install, extensionRoot);
}

/**
 * After an extension update the new folder's packages have no deps/ links: re-links each finished
 * install whose package is unlinked (or linked to something gone). A link made on purpose to
 * another install (e.g. a checkout set up with `lora-lab setup-native`) is left alone. Returns the
 * variants re-linked; throws nothing (problems go to `warn`).
 */
export function relinkInstalls(home: string, extensionRoot: string, warn: (line: string) => void): NativeVariant[] {
  if (nativeUnsupportedReason() || !hasShippedBinding(extensionRoot)) return [];
  const done: NativeVariant[] = [];
  for (const variant of VARIANTS) {
    const install = findNativeInstall(home, variant);
    if (!install) continue;
    try {
      if (variantUnavailable(variant, extensionRoot)) continue;
      const state = packageState(variant, extensionRoot);
      if (state.state === 'linked' && state.libDir && fs.existsSync(state.libDir)) continue;
      if (state.state === 'classic') continue;
      linkInstall(variant, install, extensionRoot);
      done.push(variant);
    } catch (e) {
      warn(`native ${variant}: could not re-link ${packageDir(variant, extensionRoot)} to ${install.root}: ${(e as Error).message}`);
    }
  }
  return done;
}

/**
 * Loads the package in a fresh Node process (the environment a training worker gets) and runs a
 * matMul, without blocking the extension host: the async twin of nativeBinding's checkNativeLoads.
 * ELECTRON_RUN_AS_NODE makes VS Code's Electron binary behave as Node.
 */
export function checkNativeLoadsAsync(variant: NativeVariant, opts: { root: string; home: string; timeoutMs?: number; signal?: AbortSignal }): Promise<LoadCheck> {
  const t0 = Date.now();
  const dir = packageDir(variant, opts.root);
  const script = loadCheckScript(dir);
  const env = workerEnvironment({ ...process.env, LORA_LAB_NATIVE_HOME: opts.home, ELECTRON_RUN_AS_NODE: '1', TF_CPP_MIN_LOG_LEVEL: '2' });
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script], { cwd: opts.root, env, stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8_000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 180_000);
    const finish = (r: Omit<LoadCheck, 'seconds'>) => {
      clearTimeout(timer);
      resolve({ ...r, seconds: (Date.now() - t0) / 1000 });
    };
    child.on('error', (e) => finish({ ok: false, error: e.message }));
    child.on('close', (code, signal) => {
      if (code !== 0) {
        finish({ ok: false, error: (err || out || `exit ${signal ?? code}`).trim().split('\n').slice(0, 6).join('\n') });
        return;
      }
      finish(parseLoadCheck(out));
    });
  });
}
