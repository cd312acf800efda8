// Runs the `lora-lab` CLI from the sources in a child process, so that a hostile-input test can
// measure what the process used: its exit code, what it printed, its peak resident memory
// (process.resourceUsage().maxRSS, read by the child itself as it exits) and its wall time.
// The CLI is bundled with esbuild as scripts/build.mjs does (TensorFlow.js kept external and
// found through NODE_PATH), into a temporary folder: no build of dist/ is needed or touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

export const ROOT = join(__dirname, '..', '..', '..');

export interface ChildResult {
  code: number;
  out: string;
  err: string;
  /** Peak resident set size of the child, in MiB. */
  peakMiB: number;
  seconds: number;
}

let bundled: Promise<string> | undefined;

/** The CLI bundled once per test file; resolves to a runner script that reports the child's peak memory. */
function bundle(): Promise<string> {
  bundled ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lora-hostile-cli-'));
    const cli = join(dir, 'cli.js');
    await build({
      entryPoints: [join(ROOT, 'src', 'cli.ts')],
      outfile: cli,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: ['@tensorflow/*'],
      logLevel: 'silent',
    });
    const runner = join(dir, 'run.js');
    writeFileSync(
      runner,
      `const report = (code) => { process.stderr.write('\\n@@child ' + JSON.stringify({ code, peakKiB: process.resourceUsage().maxRSS }) + '\\n'); process.exit(code); };
require(${JSON.stringify(cli)}).main(process.argv.slice(2)).then(report, (e) => { console.error(e); report(99); });\n`,
    );
    return runner;
  })();
  return bundled;
}

/** `lora-lab <args>` in a child process started in `cwd`; `onStart` gets the child (to watch its output, send it signals). */
export async function runCliChild(args: string[], cwd: string, timeoutMs = 60_000, onStart?: (child: ChildProcess) => void): Promise<ChildResult> {
  const runner = await bundle();
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runner, ...args], {
      cwd,
      env: { ...process.env, NODE_PATH: join(ROOT, 'node_modules') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    onStart?.(child);
    child.on('close', (exit) => {
      clearTimeout(timer);
      const m = /\n@@child (\{.*\})\n$/.exec(err);
      if (!m) return reject(new Error(`the child exited with ${exit} without its report (killed after ${timeoutMs} ms?)\n${err.slice(-2000)}`));
      const { code, peakKiB } = JSON.parse(m[1]) as { code: number; peakKiB: number };
      resolve({ code, out, err: err.slice(0, m.index), peakMiB: peakKiB / 1024, seconds: (Date.now() - started) / 1000 });
    });
  });
}
