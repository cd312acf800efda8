// The tfjs-node N-API binding, built against a PyPI TensorFlow install: the npm package is
// installed without its download script, its deps/ pointed at the install, and the binding
// compiled with npm's bundled node-gyp against the local Node headers (nothing from the Node.js
// site). The built addon is kept in the native home, so a fresh `npm ci` costs a copy, not a
// compile. No TensorFlow.js import.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { includeDir, safeRealpath, tfLibDir, type NativeInstall, type NativeVariant } from './nativeLayout';

export const NATIVE_PACKAGE: Record<NativeVariant, string> = { cpu: '@tensorflow/tfjs-node', gpu: '@tensorflow/tfjs-node-gpu' };
/** node-pre-gyp's folder for the binding on Node ≥ 14 (package.json `binary.module_path` with napi 8). */
const NAPI_DIR = path.join('lib', 'napi-v8');
const BINDING = 'tfjs_binding.node';

const req = createRequire(__filename);

/** The LoRA Lab package root: the folder whose node_modules holds @tensorflow/tfjs. */
export function loraLabRoot(): string {
  let dir = path.dirname(req.resolve('@tensorflow/tfjs/package.json'));
  while (path.basename(dir) !== 'node_modules') {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('Cannot find the node_modules folder that holds @tensorflow/tfjs');
    dir = up;
  }
  return path.dirname(dir);
}

export function tfjsVersion(): string {
  return (JSON.parse(fs.readFileSync(req.resolve('@tensorflow/tfjs/package.json'), 'utf8')) as { version: string }).version;
}

/** Where node-pre-gyp (and so tfjs-node's index.js) looks for the addon inside a package folder. */
export function bindingFile(packageDirectory: string): string {
  return path.join(packageDirectory, NAPI_DIR, BINDING);
}

export function packageDir(variant: NativeVariant, root = loraLabRoot()): string {
  return path.join(root, 'node_modules', ...NATIVE_PACKAGE[variant].split('/'));
}

/** Missing build prerequisites, each with what to install. Empty when the binding can be built. */
export function buildPrerequisites(): string[] {
  const problems: string[] = [];
  const has = (cmd: string, args: string[] = ['--version']): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  if (!has('g++') && !has('c++')) problems.push('a C++ compiler (g++): apt install g++ (Debian/Ubuntu) or dnf install gcc-c++');
  if (!has('make')) problems.push('make: apt install make');
  if (!has('python3')) problems.push('python3 (node-gyp runs gyp with it): apt install python3');
  if (!nodeHeaders()) problems.push(`the Node.js headers for ${process.version} (node_api.h): apt install nodejs-dev or libnode-dev, or use a Node from nodejs.org, whose tarball has include/node`);
  if (!findNodeGyp()) problems.push("npm's bundled node-gyp (node_modules/node-gyp inside npm): reinstall npm, or npm i -g node-gyp");
  return problems;
}

/** The prefix whose include/node has node_api.h for this Node (passed to node-gyp as --nodedir). */
export function nodeHeaders(): string | undefined {
  const prefix = path.resolve(path.dirname(safeRealpath(process.execPath)), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

/** node-gyp.js as npm bundles it. */
export function findNodeGyp(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates: string[] = [];
  if (env.npm_config_node_gyp) candidates.push(env.npm_config_node_gyp);
  if (env.npm_execpath) candidates.push(path.join(path.dirname(env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const bin = path.dirname(safeRealpath(process.execPath));
  candidates.push(path.join(bin, '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    const npm = safeRealpath(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
    candidates.push(path.join(path.dirname(npm), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  } catch {
    // no npm on PATH
  }
  return candidates.find((c) => fs.existsSync(c));
}

export type PackageState = 'missing' | 'no-binding' | 'classic' | 'linked';

/** What an installed tfjs-node(-gpu) package looks like: ours, the classic install, or incomplete. */
export function packageState(variant: NativeVariant, root = loraLabRoot()): { state: PackageState; dir: string; libDir?: string } {
  const dir = packageDir(variant, root);
  if (!fs.existsSync(path.join(dir, 'package.json'))) return { state: 'missing', dir };
  const lib = path.join(dir, 'deps', 'lib');
  const hasBinding = fs.existsSync(bindingFile(dir));
  if (!hasBinding) return { state: 'no-binding', dir };
  if (fs.lstatSync(lib, { throwIfNoEntry: false })?.isSymbolicLink()) return { state: 'linked', dir, libDir: safeRealpath(lib) };
  return fs.existsSync(lib) ? { state: 'classic', dir, libDir: lib } : { state: 'no-binding', dir };
}

/** `npm install` of the package without its install script (which downloads libtensorflow 2.9.1). */
export function installPackageWithoutScripts(variant: NativeVariant, root: string, log: (line: string) => void): void {
  const spec = `${NATIVE_PACKAGE[variant]}@${tfjsVersion()}`;
  log(`Installing ${spec} without its download script (npm install --no-save --ignore-scripts)`);
  const npmCli = process.env.npm_execpath;
  const [cmd, args] = npmCli && npmCli.endsWith('.js') ? [process.execPath, [npmCli]] : ['npm', []];
  const r = spawnSync(cmd, [...args, 'install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', spec], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm install ${spec} failed (exit ${r.status}): ${(r.stderr || r.stdout || '').trim().split('\n').slice(-5).join(' | ')}`);
}

/** Points the package's deps/lib and deps/include at the install (symlinks: no copy of 800 MB). */
export function linkPackage(variant: NativeVariant, install: NativeInstall, root = loraLabRoot()): void {
  const deps = path.join(packageDir(variant, root), 'deps');
  fs.rmSync(deps, { recursive: true, force: true });
  fs.mkdirSync(deps, { recursive: true });
  fs.symlinkSync(tfLibDir(install.root), path.join(deps, 'lib'), 'dir');
  fs.symlinkSync(includeDir(install.root), path.join(deps, 'include'), 'dir');
}

/** Where a built binding is kept between `npm ci`s. N-API: one build serves every Node ≥ 14 and Electron. */
export function bindingCachePath(home: string, tfVersion: string): string {
  return path.join(home, `binding-tfjs-node-${tfjsVersion()}-tf-${tfVersion}-napi-v8`, BINDING);
}

/**
 * Puts a binding into the package: the kept one unless `force`, else compiled with node-gyp (the
 * package's deps/ must already point at an install with headers). Returns how it was obtained.
 */
export function provideBinding(variant: NativeVariant, install: NativeInstall, home: string, opts: { force?: boolean; log: (line: string) => void; root?: string }): { built: boolean; seconds: number; file: string } {
  const t0 = Date.now();
  const dir = packageDir(variant, opts.root);
  const target = bindingFile(dir);
  const kept = bindingCachePath(home, install.tensorflow);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  if (!opts.force && fs.existsSync(kept)) {
    fs.copyFileSync(kept, target);
    opts.log(`Binding: reused ${kept}`);
    return { built: false, seconds: (Date.now() - t0) / 1000, file: target };
  }
  const problems = buildPrerequisites();
  if (problems.length) throw new Error(`Cannot build the tfjs-node binding; missing:\n  - ${problems.join('\n  - ')}\nUntil then LoRA Lab trains on wasm.`);
  const gyp = findNodeGyp()!;
  const jobs = Math.max(1, Math.min(os.availableParallelism(), 8));
  const args = [gyp, 'rebuild', `--nodedir=${nodeHeaders()}`, `--jobs=${jobs}`, '--module_name=tfjs_binding', `--module_path=../${NAPI_DIR}`, '--napi_build_version=8'];
  opts.log(`Binding: compiling with node-gyp against the Node headers in ${nodeHeaders()}/include/node and TensorFlow ${install.tensorflow}'s C API (${jobs} jobs)`);
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } });
  if (r.status !== 0 || !fs.existsSync(target)) {
    const tail = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`node-gyp could not build the tfjs-node binding in ${dir} (exit ${r.status}):\n${tail}`);
  }
  fs.rmSync(path.join(dir, 'build'), { recursive: true, force: true });
  fs.mkdirSync(path.dirname(kept), { recursive: true });
  fs.copyFileSync(target, `${kept}.tmp`);
  fs.renameSync(`${kept}.tmp`, kept);
  return { built: true, seconds: (Date.now() - t0) / 1000, file: target };
}

export interface LoadCheck {
  ok: boolean;
  tensorflow?: string;
  gpu?: boolean;
  /** The libtensorflow_framework.so.2 the process really mapped. */
  library?: string;
  seconds: number;
  error?: string;
}

/**
 * Loads the package in a fresh Node process (the dynamic loader must start clean) and runs a
 * matMul: the proof that the set-up works, before any run relies on it.
 */
export function checkNativeLoads(variant: NativeVariant, opts: { root?: string; env?: NodeJS.ProcessEnv } = {}): LoadCheck {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['-e', loadCheckScript(packageDir(variant, opts.root))], { cwd: opts.root ?? loraLabRoot(), encoding: 'utf8', timeout: 120_000, env: { TF_CPP_MIN_LOG_LEVEL: '2', ...(opts.env ?? process.env) } });
  const seconds = (Date.now() - t0) / 1000;
  if (r.status !== 0) return { ok: false, seconds, error: (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').slice(0, 6).join('\n') };
  return { ...parseLoadCheck(r.stdout), seconds };
}

/** The script a fresh Node process runs to check a package: load it, one matMul, the mapped libtensorflow. */
export function loadCheckScript(packageDirectory: string): string {
  return `
    const tf = require(${JSON.stringify(packageDirectory)});
    const b = tf.backend();
    const y = tf.matMul(tf.ones([64, 32]), tf.ones([32, 16])).dataSync();
    const maps = require('fs').readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split(/\\s+/).slice(5).join(' '));
    const library = maps.find((p) => /libtensorflow_framework\\.so/.test(p));
    process.stdout.write('\\n' + JSON.stringify({ tensorflow: b.binding.TF_Version, gpu: !!b.isUsingGpuDevice, sum: y[0], library }));
  `;
}

/** Reads the last line loadCheckScript printed (anything before it is the library's own output). */
export function parseLoadCheck(stdout: string): Omit<LoadCheck, 'seconds'> {
  try {
    const out = JSON.parse(stdout.trim().split('\n').pop() ?? '') as { tensorflow: string; gpu: boolean; sum: number; library?: string };
    if (out.sum !== 32) return { ok: false, error: `a 64×32 · 32×16 matMul of ones gave ${out.sum}, not 32` };
    return { ok: true, tensorflow: out.tensorflow, gpu: out.gpu, ...(out.library ? { library: out.library } : {}) };
  } catch {
    return { ok: false, error: `unexpected output: ${stdout.slice(0, 300)}` };
  }
}
