// `lora-lab setup-native` (npm run setup:native): native TensorFlow for tfjs-node from package
// registries only. The TensorFlow wheel from PyPI into the per-user cache, the tfjs-node package
// without its download script, its binding built with npm's node-gyp, and a load check.
import * as path from 'node:path';
import { nativeHome, nativeLibraryDirs, nativeUnsupportedReason, type NativeVariant } from '../core/backend/nativeLayout';
import { checkNativeLoads, installPackageWithoutScripts, linkPackage, loraLabRoot, NATIVE_PACKAGE, packageState, provideBinding } from '../core/backend/nativeBinding';
import { installNativeLibraries, mb } from '../core/backend/nativeSetup';
import { provideFusedOps } from '../core/backend/fusedOpsBuild';
import type { CliCommand } from './common';

export const setupNativeCommand: CliCommand = {
  summary: 'Set up native TensorFlow (tfjs-node) from PyPI\'s TensorFlow wheel: no Google download, no Python at run time',
  synopsis: '[--gpu] [--force] [--json]',
  options: {
    gpu: { type: 'boolean', description: 'The GPU build (tensorflow wheel + nvidia-*-cu12 wheels: CUDA 12, cuDNN 9) for @tensorflow/tfjs-node-gpu' },
    force: { type: 'boolean', description: 'Extract the libraries and rebuild the binding even when they are there' },
    json: { type: 'boolean', description: 'Print one JSON object at the end' },
  },
  async run(values) {
    const variant: NativeVariant = values.gpu ? 'gpu' : 'cpu';
    const json = values.json === true;
    const log = (line: string): void => {
      if (!json) console.log(line);
      else console.error(line);
    };
    const unsupported = nativeUnsupportedReason();
    if (unsupported) {
      console.error(`lora-lab setup-native: ${unsupported}.`);
      return 1;
    }
    const t0 = Date.now();
    const home = nativeHome();
    const root = loraLabRoot();
    const before = packageState(variant, root);
    if (before.state === 'classic' && !values.force) {
      log(`${NATIVE_PACKAGE[variant]} is installed the classic way (its own libtensorflow in ${before.libDir}); left as it is. --force replaces it with TensorFlow from PyPI.`);
      return report(json, { variant, classic: true, check: checkNativeLoads(variant, { root }) }, log);
    }
    let lastLine = '';
    const progress = process.stderr.isTTY && !json
      ? (p: { message: string }): void => {
          process.stderr.write(`\r${p.message.padEnd(lastLine.length)}`);
          lastLine = p.message;
        }
      : undefined;
    const libs = await installNativeLibraries({ variant, home, force: values.force === true, log, onProgress: progress });
    if (progress && lastLine) process.stderr.write(`\r${' '.repeat(lastLine.length)}\r`);
    log(`Libraries  ${libs.install.wheel.project} ${libs.install.tensorflow} in ${libs.install.root} (${mb(libs.installBytes)}${libs.reused ? ', already there' : `, ${mb(libs.downloadedBytes)} downloaded, ${libs.seconds.toFixed(0)} s`})`);
    if (packageState(variant, root).state === 'missing') installPackageWithoutScripts(variant, root, log);
    linkPackage(variant, libs.install, root);
    const binding = provideBinding(variant, libs.install, home, { force: values.force === true, log, root });
    log(`Binding    ${path.relative(root, binding.file)} (${binding.built ? `built in ${binding.seconds.toFixed(0)} s` : 'reused'})`);
    // The fused kernels are a speed-up, not a requirement: a failed build leaves native working without them.
    let fusedOps: Record<string, unknown>;
    try {
      const f = await provideFusedOps(variant, libs.install, home, { force: values.force === true, log, root });
      fusedOps = { ok: true, ...f };
      log(`Fused ops  ${path.relative(root, f.file)} (${f.built ? `built in ${f.seconds.toFixed(0)} s` : 'reused'})`);
    } catch (e) {
      fusedOps = { ok: false, error: (e as Error).message };
      log(`Fused ops  not built: ${(e as Error).message}\n           Native TensorFlow works without them (Llama-family steps run slower).`);
    }
    const check = checkNativeLoads(variant, { root });
    if (!check.ok) {
      console.error(`lora-lab setup-native: ${NATIVE_PACKAGE[variant]} was set up but does not load:\n${check.error}\nLoRA Lab keeps training on wasm.`);
      return 1;
    }
    const device = check.gpu ? 'a GPU device' : variant === 'gpu' ? 'the CPU (TensorFlow found no usable GPU: no NVIDIA driver, or none visible)' : 'the CPU';
    log(`Check      ${NATIVE_PACKAGE[variant]} loads TensorFlow ${check.tensorflow} from ${check.library ?? '?'} and runs on ${device} (${check.seconds.toFixed(1)} s)`);
    const picks = variant === 'cpu' || check.gpu
      ? `lora-lab and npm start now pick the '${variant === 'gpu' ? 'tensorflow-gpu' : 'tensorflow'}' backend`
      : "'tensorflow-gpu' is picked where an NVIDIA driver is present; without one, auto keeps the CPU build ('tensorflow') when it is set up, else runs this one on the CPU and says so";
    log(`Done in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${picks} (lora-lab info --model <dir> shows it).`);
    return report(json, { variant, libraries: { root: libs.install.root, bytes: libs.installBytes, downloadedBytes: libs.downloadedBytes, reused: libs.reused, dirs: nativeLibraryDirs(libs.install) }, binding, fusedOps, check }, log);
  },
};

function report(json: boolean, out: Record<string, unknown> & { check: { ok: boolean } }, log: (l: string) => void): number {
  if (json) console.log(JSON.stringify(out));
  else if (!out.check.ok) log('Check      does not load');
  return out.check.ok ? 0 : 1;
}
