// The end-to-end test's machinery: an isolated code-server profile, the server's lifecycle (its
// own process group, always killed at the end), headless Chromium through playwright-core, and
// the waits and workbench gestures the test repeats. No test logic here.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type BrowserContext, type FrameLocator, type Locator, type Page } from 'playwright-core';

export const ROOT = path.resolve(process.env.LORA_LAB_ROOT ?? process.cwd());
export const OUTPUT = path.resolve(process.env.LORA_LAB_E2E_OUTPUT ?? path.join(ROOT, 'test-output', 'e2e'));
export const CHROMIUM = process.env.LORA_LAB_E2E_CHROMIUM ?? '/usr/bin/chromium';

const started = performance.now();

/** One progress line, with the seconds since the test started. */
export function progress(message: string): void {
  console.log(`[e2e ${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${message}`);
}

/** Polls `probe` until it returns a truthy value; the last error (if any) explains a timeout. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 60_000, intervalMs = 500): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > end) {
      const why = lastError instanceof Error ? `: ${lastError.message.split('\n')[0]}` : '';
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** A process's start time (clock ticks since boot, /proc/PID/stat field 22): with the pid, it names one process for good. */
function startTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** An ended process its parent has not reaped yet (or one already gone). */
function zombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Every live descendant of `pid` (read from /proc), parents before children. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // The process ended while we looked.
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

export interface ProfileOptions {
  /** User settings.json of the profile (merged over the isolation defaults). */
  settings: Record<string, unknown>;
  /** Files to place in the workspace: relative path → source file or contents. */
  workspaceFiles: Record<string, { from: string } | { text: string } | { dir: string }>;
}

/** Servers still running: killed (synchronously, by process group) if this process exits or is interrupted. */
const running = new Set<CodeServer>();
process.on('exit', () => {
  for (const server of running) server.killNow();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    progress(`${sig}: stopping code-server`);
    process.exit(130);
  });
}

/** code-server in a throwaway profile, started in its own process group. */
export class CodeServer {
  readonly root: string;
  readonly home: string;
  readonly userData: string;
  readonly extensionsDir: string;
  readonly workspace: string;
  readonly env: NodeJS.ProcessEnv;
  private child?: ChildProcess;
  /** The server and its descendants seen so far: pid → start time (so a reused pid is never signalled). */
  private pids = new Map<number, string>();
  port = 0;

  constructor(
    private readonly codeServerDir: string,
    opts: ProfileOptions,
  ) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-lab-e2e-'));
    this.home = path.join(this.root, 'home');
    this.userData = path.join(this.root, 'user-data');
    this.extensionsDir = path.join(this.root, 'extensions');
    this.workspace = path.join(this.root, 'workspace');
    for (const d of [this.home, this.userData, this.extensionsDir, this.workspace, path.join(this.userData, 'User')]) fs.mkdirSync(d, { recursive: true });
    this.env = {
      ...process.env,
      HOME: this.home,
      XDG_CONFIG_HOME: path.join(this.home, '.config'),
      XDG_DATA_HOME: path.join(this.home, '.local', 'share'),
      XDG_CACHE_HOME: path.join(this.home, '.cache'),
      XDG_RUNTIME_DIR: path.join(this.home, '.run'),
      // No extension gallery (these machines reach no marketplace) and no telemetry endpoint.
      EXTENSIONS_GALLERY: '{}',
      CS_DISABLE_GETTING_STARTED_OVERRIDE: '1',
      // The npm script's environment must not leak into the extension host (e.g. npm_config_*).
      ...Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('npm_')).map((k) => [k, undefined])),
    };
    const settings = {
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'workbench.enableExperiments': false,
      'workbench.welcomePage.walkthroughs.openOnInstall': false,
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'update.showReleaseNotes': false,
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'extensions.ignoreRecommendations': true,
      'security.workspace.trust.enabled': false,
      'git.enabled': false,
      'window.restoreWindows': 'none',
      'workbench.editor.enablePreview': false,
      'chat.commandCenter.enabled': false,
      ...opts.settings,
    };
    fs.writeFileSync(path.join(this.userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
    for (const [rel, src] of Object.entries(opts.workspaceFiles)) {
      const dest = path.join(this.workspace, rel);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      if ('from' in src) fs.copyFileSync(src.from, dest);
      else if ('dir' in src) fs.cpSync(src.dir, dest, { recursive: true });
      else fs.writeFileSync(dest, src.text);
    }
  }

  private entry(): string {
    return path.join(this.codeServerDir, 'out', 'node', 'entry.js');
  }

  private baseArgs(): string[] {
    return ['--user-data-dir', this.userData, '--extensions-dir', this.extensionsDir, '--disable-telemetry', '--disable-update-check'];
  }

  /** Installs a .vsix into the profile; must happen before start (a running server does not pick it up). */
  async installExtension(vsix: string): Promise<string> {
    const out = await this.runOnce([...this.baseArgs(), '--install-extension', vsix, '--force'], 180_000);
    const installed = fs.readdirSync(this.extensionsDir).filter((d) => !d.startsWith('.') && fs.statSync(path.join(this.extensionsDir, d)).isDirectory());
    if (!installed.length) throw new Error(`code-server did not install ${vsix}:\n${out}`);
    return path.join(this.extensionsDir, installed[0]);
  }

  private runOnce(args: string[], timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [this.entry(), ...args], { env: this.env, cwd: this.root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => {
        killGroup(child.pid);
        reject(new Error(`code-server ${args.join(' ')} timed out:\n${out}`));
      }, timeoutMs);
      child.on('exit', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(out);
        else reject(new Error(`code-server ${args.join(' ')} exited with ${code}:\n${out}`));
      });
    });
  }

  /** Starts the server on a free port in its own process group and waits for /healthz. */
  async start(logFile: string): Promise<string> {
    this.port = await freePort();
    const log = fs.openSync(logFile, 'w');
    const args = [
      this.entry(),
      ...this.baseArgs(),
      '--bind-addr', `127.0.0.1:${this.port}`,
      '--auth', 'none',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--ignore-last-opened',
      this.workspace,
    ];
    this.child = spawn(process.execPath, args, { env: this.env, cwd: this.root, stdio: ['ignore', log, log], detached: true });
    fs.closeSync(log);
    const pid = this.child.pid!;
    this.remember(pid);
    running.add(this);
    let exited: string | undefined;
    this.child.on('exit', (code, signal) => (exited = `exited (${signal ?? code})`));
    const url = `http://127.0.0.1:${this.port}`;
    await waitFor(`code-server on ${url}/healthz`, async () => {
      if (exited) throw new Error(`code-server ${exited}; see ${logFile}`);
      const r = await fetch(`${url}/healthz`);
      return r.ok;
    }, 60_000);
    return url;
  }

  private remember(pid: number): void {
    const t = startTime(pid);
    if (t) this.pids.set(pid, t);
  }

  /** Still the same process we saw (not ended, and its pid not reused since). */
  private same(pid: number): boolean {
    return startTime(pid) === this.pids.get(pid);
  }

  private signalKnown(sig: NodeJS.Signals): void {
    for (const p of this.pids.keys()) if (this.same(p)) signal(p, sig);
  }

  /** Remembers the server's descendants (extension host, training worker) so stop() can end them by id. */
  noteDescendants(): void {
    if (this.child?.pid) for (const p of descendants(this.child.pid)) this.remember(p);
  }

  /** Stops the server: its process group, then any descendant that left the group; by id, never by name. */
  async stop(): Promise<void> {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    this.noteDescendants();
    killGroup(pid, 'SIGTERM');
    this.signalKnown('SIGTERM');
    const end = Date.now() + 10_000;
    while (Date.now() < end && [...this.pids.keys()].some((p) => this.same(p) && !zombie(p))) await sleep(200);
    this.killNow();
  }

  /** SIGKILL to the process group and every known descendant, synchronously (also from an exit handler). */
  killNow(): void {
    const pid = this.child?.pid;
    if (pid !== undefined) {
      this.noteDescendants();
      killGroup(pid, 'SIGKILL');
    }
    this.signalKnown('SIGKILL');
    this.child = undefined;
    running.delete(this);
  }

  /** The profile's temporary folder goes too unless E2E_KEEP is set (for debugging). */
  cleanup(): void {
    if (process.env.E2E_KEEP) {
      progress(`kept the profile and workspace in ${this.root}`);
      return;
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

function killGroup(pid: number | undefined, sig: NodeJS.Signals = 'SIGKILL'): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // The group is gone.
  }
}

/** Headless Debian Chromium, driven by playwright-core, with a fresh profile of its own. */
export async function launchBrowser(home: string, dataDir: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chromium.launchPersistentContext(dataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1600, height: 1000 },
    env: { ...process.env, HOME: home },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return { context, page };
}

let shotCount = 0;
let shotPrefix = '';

/** Names this file's screenshots apart from another test file's (e.g. 'it-'). */
export function setScreenshotPrefix(prefix: string): void {
  shotPrefix = prefix;
}

/** Saves a numbered screenshot under test-output/e2e and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  shotCount += 1;
  const file = path.join(OUTPUT, `${shotPrefix}${String(shotCount).padStart(2, '0')}-${name}.png`);
  try {
    await page.screenshot({ path: file, timeout: 20_000 });
    progress(`screenshot ${path.relative(ROOT, file)}`);
  } catch (e) {
    progress(`could not take screenshot ${name}: ${(e as Error).message.split('\n')[0]}`);
  }
  return file;
}

// --- Workbench gestures -------------------------------------------------------------------------

export const QUICK_INPUT = '.quick-input-widget';
export const QUICK_INPUT_BOX = '.quick-input-widget input.input[type=text]';

/** The visible rows of the quick input's list. */
export function quickPickRows(page: Page): Locator {
  return page.locator(`${QUICK_INPUT} .quick-input-list .monaco-list-row`);
}

async function quickInputVisible(page: Page): Promise<boolean> {
  return page.locator(QUICK_INPUT).isVisible();
}

export async function closeQuickInput(page: Page): Promise<void> {
  for (let i = 0; i < 3 && (await quickInputVisible(page)); i++) {
    await page.keyboard.press('Escape');
    await sleep(300);
  }
}

/**
 * Runs a command from the palette by its full label ("Category: Title"). Commands appear only once
 * the remote extension host has registered the extension's contributions: retried up to `timeoutMs`.
 */
export async function runFromPalette(page: Page, label: string, timeoutMs = 90_000, beforeAccept?: () => Promise<unknown>): Promise<void> {
  await waitFor(`"${label}" in the command palette`, async () => {
    await closeQuickInput(page);
    await page.keyboard.press('F1');
    const box = page.locator(QUICK_INPUT_BOX);
    await box.waitFor({ state: 'visible', timeout: 5_000 });
    await box.fill(`>${label}`);
    const row = quickPickRows(page).filter({ hasText: label }).first();
    try {
      await row.waitFor({ state: 'visible', timeout: 3_000 });
    } catch {
      return false;
    }
    await beforeAccept?.();
    // The best match is selected first; pick this row explicitly all the same.
    await row.click();
    return true;
  }, timeoutMs, 2_000);
}

/** Waits for a quick pick whose title contains `title` and returns it once its rows are listed. */
export async function waitForQuickPick(page: Page, title: string, timeoutMs = 60_000): Promise<Locator> {
  const widget = page.locator(QUICK_INPUT);
  await waitFor(`the quick pick "${title}"`, async () => {
    if (!(await widget.isVisible())) return false;
    const t = (await widget.locator('.quick-input-title').textContent()) ?? '';
    return t.includes(title) && (await quickPickRows(page).count()) > 0;
  }, timeoutMs, 300);
  return widget;
}

/** Clicks the first quick-pick row whose text matches. */
export async function pickRow(page: Page, match: RegExp | string): Promise<string> {
  const row = quickPickRows(page).filter({ hasText: match }).first();
  await row.waitFor({ state: 'visible', timeout: 10_000 });
  const text = ((await row.innerText()) ?? '').replace(/\s+/g, ' ').trim();
  await row.click();
  return text;
}

/** The explorer row of a workspace file (top-level). */
export function explorerRow(page: Page, name: string): Locator {
  return page.locator('.explorer-folders-view .monaco-list-row').filter({ hasText: new RegExp(`^\\s*${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`) });
}

/** The explorer view, opened if the side bar shows something else. */
export async function showExplorer(page: Page): Promise<void> {
  await waitFor('the explorer', async () => {
    if (await page.locator('.explorer-folders-view').isVisible()) return true;
    await page.keyboard.press('Control+Shift+E');
    return false;
  }, 60_000, 1_000);
}

/** The content of the (first ready) webview: iframe.webview.ready → #active-frame. */
export function webviewContent(page: Page): FrameLocator {
  return page.frameLocator('iframe.webview.ready').first().frameLocator('#active-frame');
}

/** Texts of the visible notification toasts. */
export async function notifications(page: Page): Promise<string[]> {
  const toasts = page.locator('.notifications-toasts .notification-toast, .notifications-center .notification-list-item');
  const n = await toasts.count();
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(((await toasts.nth(i).innerText().catch(() => '')) ?? '').replace(/\s+/g, ' ').trim());
  return out.filter(Boolean);
}
