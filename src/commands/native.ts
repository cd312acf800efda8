// "LoRA Lab: Set Up Native Backend…": native TensorFlow from PyPI's wheels into the extension's
// global storage, linked to the prebuilt binding the linux-x64 .vsix carries — no compiler, no
// Python. Also the silent re-link at activation (after an extension update) and the one-time hint
// when a run starts on wasm where native would work.
import * as vscode from 'vscode';
import type { BackendReport } from '../core/backend';
import type { LoadCheck } from '../core/backend/nativeBinding';
import { TF_WHEEL_VERSION, type NativeVariant } from '../core/backend/nativeLayout';
import { installNativeLibraries, mb, type InstallLibrariesResult } from '../core/backend/nativeSetup';
import { checkNativeLoadsAsync, extensionNativeHome, hasShippedBinding, installsIn, linkInstall, nvidiaDriverLoaded, relinkInstalls, variantUnavailable } from '../host/nativeInstall';

export const SETUP_NATIVE_COMMAND = 'loraLab.setupNative';
const HINT_SHOWN_KEY = 'loraLab.nativeHintShown';
const BACKEND_NAME: Record<NativeVariant, string> = { cpu: 'tensorflow', gpu: 'tensorflow-gpu' };

type Outcome = { libs: InstallLibrariesResult; check: LoadCheck } | { error: string };

interface VariantItem extends vscode.QuickPickItem {
  variant: NativeVariant;
}

let running = false;

function home(context: vscode.ExtensionContext): string {
  return extensionNativeHome(context.globalStorageUri.fsPath);
}

/** The command: pick CPU or GPU, download and extract with progress and Cancel, link, check, report. */
export async function setupNativeCommand(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): Promise<void> {
  const root = context.extensionPath;
  const unavailable = variantUnavailable('cpu', root);
  if (unavailable) {
    log.warn(`Set Up Native Backend: ${unavailable}`);
    void vscode.window.showInformationMessage(`LoRA Lab: ${unavailable}.`);
    return;
  }
  if (running) {
    void vscode.window.showInformationMessage('LoRA Lab: the native backend is already being set up (see the progress notification).');
    return;
  }
  const installed = new Set(installsIn(home(context)).map((i) => i.variant));
  const driver = nvidiaDriverLoaded();
  const gpuMissing = variantUnavailable('gpu', root);
  const items: VariantItem[] = [
    {
      variant: 'cpu',
      label: '$(chip) CPU',
      description: `tensorflow-cpu ${TF_WHEEL_VERSION}${installed.has('cpu') ? ' · set up' : ''}`,
      detail: 'Native TensorFlow on the processor: ~274 MB download, ~850 MB on disk. Several times faster than wasm.',
    },
  ];
  if (!gpuMissing) {
    items.push({
      variant: 'gpu',
      label: '$(circuit-board) NVIDIA GPU',
      description: `tensorflow ${TF_WHEEL_VERSION} + CUDA 12 / cuDNN 9 wheels${installed.has('gpu') ? ' · set up' : ''}`,
      detail: `~3.3 GB download. Needs an NVIDIA driver${driver ? ' (one is loaded)' : ' — none found on this machine: it would run on the CPU'}.`,
    });
  }
  const pick = await vscode.window.showQuickPick(items, {
    title: 'LoRA Lab: set up native TensorFlow',
    placeHolder: 'Downloads TensorFlow from PyPI into the extension\'s storage; training uses it from the next run',
  });
  if (!pick) return;
  running = true;
  try {
    await setUp(context, log, pick.variant);
  } finally {
    running = false;
  }
}

async function setUp(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, variant: NativeVariant): Promise<void> {
  const root = context.extensionPath;
  const nativeHome = home(context);
  const label = variant === 'gpu' ? 'GPU' : 'CPU';
  const t0 = Date.now();
  log.info(`Set Up Native Backend (${label}): libraries into ${nativeHome}, linked to the binding in ${root}`);
  let phase = 'downloading and extracting the libraries';
  const outcome = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `LoRA Lab: native TensorFlow (${label})`, cancellable: true },
    async (progress, token): Promise<Outcome> => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      let last = 0;
      try {
        const libs = await installNativeLibraries({
          variant,
          home: nativeHome,
          signal: abort.signal,
          log: (line) => log.info(line),
          onProgress: (p) => {
            const now = Date.now();
            if (now - last < 250 && p.fraction !== undefined && p.fraction < 1) return;
            last = now;
            progress.report({ message: p.fraction !== undefined ? `${p.message} (${Math.round(p.fraction * 100)}%)` : p.message });
          },
        });
        if (abort.signal.aborted) throw new Error('cancelled');
        phase = 'linking the libraries to the extension\'s binding';
        progress.report({ message: 'Linking the libraries to the extension\'s binding' });
        linkInstall(variant, libs.install, root);
        phase = 'loading TensorFlow';
        progress.report({ message: 'Loading TensorFlow to check it works' });
        const check = await checkNativeLoadsAsync(variant, { root, home: nativeHome, signal: abort.signal });
        return { libs, check };
      } catch (e) {
        return { error: abort.signal.aborted ? 'cancelled' : (e as Error).message };
      }
    },
  );
  const seconds = ((Date.now() - t0) / 1000).toFixed(0);
  if ('error' in outcome) {
    if (outcome.error === 'cancelled' || /cancelled|aborted/i.test(outcome.error)) {
      log.info(`Set Up Native Backend (${label}): cancelled after ${seconds} s; nothing half-done is kept; training stays on wasm`);
      void vscode.window.showInformationMessage('LoRA Lab: native TensorFlow set-up cancelled. Training stays on wasm.');
      return;
    }
    return failed(log, `${phase} failed: ${outcome.error}`);
  }
  const { libs, check } = outcome;
  if (!check.ok) return failed(log, `TensorFlow ${libs.install.tensorflow} was set up in ${libs.install.root} but does not load: ${check.error ?? 'no reason given'}`);
  const download = libs.reused ? 'already set up' : libs.downloadedBytes > 0 ? `${mb(libs.downloadedBytes)} downloaded` : 'wheel from the download cache';
  const device = check.gpu ? 'on the GPU' : variant === 'gpu' ? 'on the CPU (TensorFlow sees no usable GPU: no NVIDIA driver, or none visible)' : 'on the CPU';
  log.info(`Set Up Native Backend (${label}): TensorFlow ${check.tensorflow} runs ${device}; ${download}, ${mb(libs.installBytes)} on disk in ${libs.install.root}; library ${check.library ?? '?'}; load check ${check.seconds.toFixed(1)} s; ${seconds} s in all`);
  const forced = vscode.workspace.getConfiguration('loraLab').get<string>('backend', 'auto');
  const next = forced === 'auto' || forced === BACKEND_NAME[variant]
    ? `New training runs use it (backend '${BACKEND_NAME[variant]}').`
    : `loraLab.backend is '${forced}': set it to 'auto' to train on it.`;
  const pick = await vscode.window.showInformationMessage(
    `LoRA Lab: native TensorFlow ${check.tensorflow} is set up (${label}) and runs ${check.gpu ? 'on the GPU' : 'on the CPU'}: ${download}, ${mb(libs.installBytes)} on disk, ${seconds} s. ${next}`,
    'Show Log',
  );
  if (pick === 'Show Log') log.show(true);
}

async function failed(log: vscode.LogOutputChannel, why: string): Promise<void> {
  log.error(`Set Up Native Backend: ${why}. Training stays on wasm.`);
  const pick = await vscode.window.showErrorMessage(`LoRA Lab: setting up native TensorFlow failed — ${why.split('\n')[0]}. Training stays on wasm.`, 'Show Log');
  if (pick === 'Show Log') log.show(true);
}

/** Activation: re-links finished installs the (updated) extension's packages lost. Silent but for the log. */
export function relinkNativeOnActivation(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): void {
  const done = relinkInstalls(home(context), context.extensionPath, (line) => log.warn(line));
  if (done.length) log.info(`native TensorFlow: re-linked ${done.join(', ')} in ${context.extensionPath} to ${home(context)}`);
}

/**
 * A run's backend report: when it is wasm on a machine where the shipped binding would work and
 * nothing is set up (and wasm was not forced), says so once, with the button.
 */
export async function hintNativeOnWasm(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, report: BackendReport): Promise<void> {
  if (report.backend !== 'wasm' || context.globalState.get<boolean>(HINT_SHOWN_KEY)) return;
  if (report.attempts.some((a) => a.reason.startsWith('skipped: backend forced'))) return;
  if (variantUnavailable('cpu', context.extensionPath) || !hasShippedBinding(context.extensionPath)) return;
  if (installsIn(home(context)).length > 0) return;
  await context.globalState.update(HINT_SHOWN_KEY, true);
  const pick = await vscode.window.showInformationMessage(
    'LoRA Lab: this run trains on WebAssembly. Native TensorFlow works on this machine and trains several times faster: a one-time ~274 MB download, no compiler needed.',
    'Set Up Native Backend…',
  );
  if (pick) void setupNativeCommand(context, log);
}
