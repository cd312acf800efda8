// Native TensorFlow in the end-to-end test: the profile shares the machine's wheel cache (so
// "Set Up Native Backend…" takes the tensorflow-cpu wheel from there instead of downloading 274 MB
// again), and what the set-up leaves on disk: the install in the extension's global storage and
// the deps/ links of the installed extension's tfjs-node.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { notifications, progress, runFromPalette, screenshot, waitFor, type CodeServer } from './harness';
import type { RunInfo } from './workspace';

/** The extension's id, whose global storage holds the native install. */
const EXTENSION_ID = 'lora-lab.lora-lab';
const TF_VERSION = '2.21.0';

/** The one-time hint shown when a run starts on wasm. */
export const NATIVE_HINT = /Native TensorFlow works on this machine/;
/** The set-up's success notification. */
export const NATIVE_SET_UP = /LoRA Lab: native TensorFlow [\d.]+ is set up \(CPU\)/;

/** This machine's wheel cache (where `npm run setup:native` put the wheels), as nativeLayout.ts computes it. */
function machineWheelCache(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'lora-lab', 'wheels');
}

/**
 * Links the profile's wheel cache (<profile home>/.cache/lora-lab/wheels) to the machine's. The
 * set-up still asks PyPI for the file list and checks the wheel's sha256; a wheel not there yet is
 * downloaded into the machine's cache, for the next run.
 */
export function seedWheelCache(server: CodeServer): void {
  const real = machineWheelCache();
  fs.mkdirSync(real, { recursive: true });
  const link = path.join(server.home, '.cache', 'lora-lab', 'wheels');
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(real, link, 'dir');
  const cpu = fs.readdirSync(real).find((f) => f.startsWith(`tensorflow_cpu-${TF_VERSION}-`));
  progress(`wheel cache: ${link} → ${real}${cpu ? ` (has ${cpu})` : ' (no tensorflow-cpu wheel yet: the set-up downloads ~274 MB)'}`);
}

export function nativeHomeOf(server: CodeServer): string {
  return path.join(server.userData, 'User', 'globalStorage', EXTENSION_ID, 'native');
}

/** The install record the set-up wrote, or undefined. */
export function nativeInstallRecord(server: CodeServer): { root: string; record: { variant: string; tensorflow: string; wheel: { filename: string } } } | undefined {
  const root = path.join(nativeHomeOf(server), `tensorflow-cpu-${TF_VERSION}`);
  try {
    return { root, record: JSON.parse(fs.readFileSync(path.join(root, 'lora-lab-native.json'), 'utf8')) };
  } catch {
    return undefined;
  }
}

/** Where the installed extension's tfjs-node/deps/lib points (undefined when it is no link). */
export function linkedLibraries(extensionDir: string): string | undefined {
  const lib = path.join(extensionDir, 'node_modules', '@tensorflow', 'tfjs-node', 'deps', 'lib');
  return fs.lstatSync(lib, { throwIfNoEntry: false })?.isSymbolicLink() ? fs.realpathSync(lib) : undefined;
}

/** The backend run.json records, its duration and the median training speed from metrics.jsonl. */
export function describeRun(run: RunInfo): { backend?: string; device?: string; threads?: number; seconds?: number; tokensPerSec?: number; fusedOps?: { loaded: boolean; ops?: string[]; reason?: string }; text: string } {
  const rec = JSON.parse(fs.readFileSync(path.join(run.dir, 'run.json'), 'utf8')) as {
    backend?: { backend?: string; device?: string; threads?: number; native?: { fusedOps?: { loaded: boolean; ops?: string[]; reason?: string } } };
    durationMs?: number;
  };
  const speeds = fs.readFileSync(path.join(run.dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; tokensPerSec?: number })
    .filter((r) => r.type === 'step' && typeof r.tokensPerSec === 'number')
    .map((r) => r.tokensPerSec!)
    .sort((a, b) => a - b);
  const median = speeds.length ? speeds[Math.floor(speeds.length / 2)] : undefined;
  const seconds = rec.durationMs !== undefined ? rec.durationMs / 1000 : undefined;
  const b = rec.backend ?? {};
  const fusedOps = b.native?.fusedOps;
  const fused = fusedOps ? `, fused kernels ${fusedOps.loaded ? `${fusedOps.ops?.length ?? 0} loaded` : `off (${fusedOps.reason})`}` : '';
  const text = `backend ${b.backend ?? '?'} (${b.device ?? '?'}, ${b.threads ?? '?'} threads${fused}), ${seconds?.toFixed(1) ?? '?'} s, median ${median?.toFixed(0) ?? '?'} tokens/s`;
  return { backend: b.backend, device: b.device, threads: b.threads, seconds, tokensPerSec: median, ...(fusedOps ? { fusedOps } : {}), text };
}

/**
 * A notification matching `re`: among the toasts, else in the notification center (a toast hides
 * after a while, or when newer ones push it out), opened and closed again for the look.
 */
export async function findNotification(page: Page, re: RegExp, shot: string): Promise<string | undefined> {
  const toast = (await notifications(page)).find((t) => re.test(t));
  if (toast) {
    await screenshot(page, shot);
    return toast;
  }
  await runFromPalette(page, 'Notifications: Show Notifications', 30_000);
  const center = page.locator('.notifications-center');
  await waitFor('the notification center', () => center.isVisible(), 10_000);
  const found = await waitFor(`a notification matching ${re} in the notification center`, async () => (await notifications(page)).find((t) => re.test(t)), 10_000).catch(() => undefined);
  await screenshot(page, shot);
  for (let i = 0; i < 3 && (await center.isVisible()); i++) await page.keyboard.press('Escape');
  return found;
}
