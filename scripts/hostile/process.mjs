#!/usr/bin/env node
// Process-level hostile cases (issue 13) that a vitest worker cannot host, run by `.ci/run` through
// `npm run test:hostile` against the built CLI (bin/lora-lab.js → dist/cli.js, `npm run build`):
//   1. Ctrl-C while the model loads: exit 130 within about a second, "cancelled while loading the model".
//   2. A second Ctrl-C exits at once with 130 and the "quit at once" line, timed from the second
//      signal (the vitest suite times two in training from the first): while tokenizing a
//      200,000-row file, and while the model loads.
//   3. Disk full: training into a 700 KiB tmpfs (a private mount namespace, `unshare -m`; root or
//      a user namespace is needed, else the case says why it is skipped): exit 1 naming ENOSPC,
//      the last checkpoint, run.json and metrics.jsonl intact, no temporary file left.
// Already covered in vitest, not repeated here: Ctrl-C while checking and tokenizing, at
// pre-flight and in training, and two Ctrl-Cs in training (test/hostile/interrupt.test.ts);
// concurrent resumes of one run refused by run.lock (test/hostile/runLock.test.ts); kill -9 then
// --resume giving the uninterrupted run's adapter byte for byte (test/hostile/killResume.test.ts).
// Each case prints PASS/FAIL (or SKIP) with its figures; the script exits 1 on any FAIL.
// Needs only the repository, `npm ci` and `npm run build`. About 40 s on a 2-core host.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'bin', 'lora-lab.js');
const MODEL = path.join(ROOT, 'samples', 'model');
// Within this of the signal, a cancel counts as prompt: the issue asks for about a second; the
// slack is for a loaded 2-core CI host (measured 0.1-0.4 s alone).
const CANCEL_SECONDS = 2;
// A second Ctrl-C exits from its signal handler: measured under 0.1 s.
const QUIT_SECONDS = 1;

if (!fs.existsSync(path.join(ROOT, 'dist', 'cli.js'))) {
  console.error(`scripts/hostile/process.mjs: ${path.join(ROOT, 'dist', 'cli.js')} is missing; run "npm run build" first.`);
  process.exit(2);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-hostile-process-'));
const results = [];
function report(status, name, figures) {
  results.push(status);
  console.log(`${status.padEnd(4)} ${name}${figures ? ` — ${figures}` : ''}`);
}
const check = (name, failures, figures) => report(failures.length ? 'FAIL' : 'PASS', name, failures.length ? `${figures}; ${failures.join('; ')}` : figures);

/** `rows` JSON Lines rows of `len` input ids (3..92, inside the sample model's vocabulary) from a seeded LCG. */
function idsFile(name, rows, len, seed) {
  let s = seed;
  const lines = [];
  for (let i = 0; i < rows; i++) {
    const ids = [];
    for (let j = 0; j < len; j++) ids.push(3 + ((s = (s * 1103515245 + 12345) % 2147483648) % 90));
    lines.push(`{"input_ids":[${ids.join(',')}]}`);
  }
  const file = path.join(tmp, name);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/**
 * `lora-lab <args>` in a child; `onLine(line, signal)` sees each stdout line and `onErr(all, signal)`
 * the stderr so far (`signal(sig)` sends one and records when). Resolves with the exit code (128 + n for a signal), output, and times.
 */
function lora(args, onLine = () => {}, onErr = () => {}, timeoutMs = 120_000) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    const sent = [];
    let out = '';
    let err = '';
    let pending = '';
    const signal = (sig) => {
      sent.push(Date.now());
      child.kill(sig);
    };
    child.stdout.on('data', (d) => {
      out += d;
      pending += d;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        onLine(line, signal);
      }
    });
    child.stderr.on('data', (d) => {
      err += d;
      onErr(err, signal);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      const at = Date.now();
      const signals = { SIGKILL: 9, SIGINT: 2, SIGTERM: 15 };
      resolve({ code: code ?? 128 + (signals[sig] ?? 0), out, err, sent, afterFirst: sent[0] ? (at - sent[0]) / 1000 : undefined, afterLast: sent.length ? (at - sent.at(-1)) / 1000 : undefined });
    });
  });
}

const events = (out) => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const finished = (r) => events(r.out).find((e) => e.type === 'finished');
const s = (x) => (x === undefined ? '?' : x.toFixed(2));

const small = idsFile('small.jsonl', 48, 16, 11);
const train = (ws, ...extra) => ['train', '--model', MODEL, '--data', small, '--workspace', ws, '--backend', 'wasm', '--json', ...extra];
const workspace = (name) => fs.mkdirSync(path.join(tmp, name), { recursive: true }) ?? path.join(tmp, name);

// 1. Ctrl-C while the model loads.
async function ctrlCAtModelLoad() {
  const r = await lora(train(workspace('load'), '--max-steps', '50'), (line, signal) => {
    if (line.includes('"phase":"loading-model"')) signal('SIGINT');
  });
  const fin = finished(r);
  const failures = [];
  if (!r.sent.length) failures.push('the model-load phase was never announced');
  if (r.code !== 130) failures.push(`exit ${r.code}, not 130`);
  if (!(r.afterFirst < CANCEL_SECONDS)) failures.push(`exited ${s(r.afterFirst)} s after the signal, over ${CANCEL_SECONDS} s`);
  if (!/^cancelled while loading the model/.test(fin?.message ?? '')) failures.push(`message ${JSON.stringify(fin?.message)}`);
  if (/native abort|out of wasm memory/.test(r.err)) failures.push('the native-abort text was printed');
  check('Ctrl-C while the model loads', failures, `exit ${r.code} ${s(r.afterFirst)} s after SIGINT: "${fin?.message}"`);
}

// 2. A second Ctrl-C exits at once: sent as soon as the first one is acknowledged ("Cancelling"
// on stderr; two sent together arrive as one signal), timed from the second. The first cancel is
// itself quick at these stages (measured 0.05-0.2 s), so it may finish the run before the second
// lands; either way the exit is 130 at once, and the line says which path was taken (the quit
// path is asserted in training by test/hostile/interrupt.test.ts, where a step takes longer).
async function doubleCtrlC(stage, data, when) {
  const ws = workspace(`double-${stage.replace(/\W+/g, '-')}`);
  let sentFirst = false;
  let sentSecond = false;
  const r = await lora(['train', '--model', MODEL, '--data', data, '--workspace', ws, '--backend', 'wasm', '--json', '--max-steps', '50'],
    (line, signal) => { if (!sentFirst && when.test(line)) { sentFirst = true; signal('SIGINT'); } },
    (err, signal) => { if (sentFirst && !sentSecond && err.includes('Cancelling')) { sentSecond = true; signal('SIGINT'); } });
  const failures = [];
  if (r.sent.length !== 2) failures.push(`${r.sent.length} signal(s) sent (the stage or the acknowledgement never came?)`);
  if (r.code !== 130) failures.push(`exit ${r.code}, not 130`);
  if (!(r.afterLast < QUIT_SECONDS)) failures.push(`exited ${s(r.afterLast)} s after the second SIGINT, over ${QUIT_SECONDS} s`);
  const line = /lora-lab train: (quit at once[^\n]*)/.exec(r.err)?.[1];
  const fin = finished(r);
  if (!line && fin?.status !== 'cancelled') failures.push(`no "quit at once" line: ${r.err.slice(-300)}`);
  if (/native abort|out of wasm memory/.test(r.err)) failures.push('the native-abort text was printed');
  const how = line ? `"${line}"` : `the first cancel had finished: "${fin?.message}"`;
  check(`two Ctrl-Cs ${stage}`, failures, `exit ${r.code} ${s(r.afterLast)} s after the second SIGINT (${s(r.afterFirst)} s after the first); ${how}`);
}

// 3. Disk full on a small tmpfs.
function mountCommand() {
  const dir = path.join(tmp, 'probe');
  fs.mkdirSync(dir);
  const tries = process.getuid?.() === 0 ? [['-m'], ['-r', '-m']] : [['-r', '-m']];
  const reasons = [];
  for (const flags of tries) {
    const p = spawnSync('unshare', [...flags, 'sh', '-c', `mount -t tmpfs -o size=64k tmpfs ${dir}`], { encoding: 'utf8' });
    if (p.status === 0) return { flags };
    reasons.push(`unshare ${flags.join(' ')}: ${(p.error?.message ?? p.stderr).trim().split('\n').at(-1) || `exit ${p.status}`}`);
  }
  return { reason: reasons.join('; ') };
}

async function diskFull() {
  const { flags, reason } = mountCommand();
  if (!flags) return report('SKIP', 'disk full on a 700 KiB tmpfs', `skipped: cannot mount tmpfs (${reason})`);
  const mnt = workspace('tmpfs');
  const copy = workspace('tmpfs-copy');
  const outFile = path.join(tmp, 'tmpfs.out');
  const errFile = path.join(tmp, 'tmpfs.err');
  // The run happens inside the namespace; its folder is copied out before the mount goes with it.
  const args = train(mnt, '--max-steps', '6', '--save-every', '2', '--eval-every', '1000').map((a) => `'${a}'`).join(' ');
  const script = `mount -t tmpfs -o size=700k tmpfs '${mnt}' || exit 97
"${process.execPath}" '${BIN}' ${args} > '${outFile}' 2> '${errFile}'; code=$?
cp -a '${mnt}/.' '${copy}/'; exit $code`;
  const started = Date.now();
  const p = spawnSync('unshare', [...flags, 'sh', '-c', script], { encoding: 'utf8', timeout: 120_000 });
  const seconds = (Date.now() - started) / 1000;
  const r = { code: p.status, out: fs.readFileSync(outFile, 'utf8'), err: fs.readFileSync(errFile, 'utf8') };
  const fin = finished(r);
  const failures = [];
  if (r.code !== 1) failures.push(`exit ${r.code}, not 1`);
  if (!/ENOSPC|no space left/i.test(fin?.message ?? '')) failures.push(`message ${JSON.stringify(fin?.message)} names no full disk`);
  const runDir = fin?.runDir && path.join(copy, path.relative(mnt, fin.runDir));
  let figures = `exit ${r.code} after ${seconds.toFixed(1)} s`;
  if (!runDir || !fs.existsSync(runDir)) failures.push('no run folder');
  else {
    const files = fs.readdirSync(runDir, { recursive: true });
    const temps = files.filter((f) => /\.tmp/.test(f));
    if (temps.length) failures.push(`temporary files left: ${temps.join(', ')}`);
    const rec = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
    if (rec.status !== 'failed') failures.push(`run.json status "${rec.status}"`);
    const metrics = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8');
    if (!metrics.endsWith('\n')) failures.push('metrics.jsonl ends in a partial line');
    metrics.split('\n').filter(Boolean).forEach((l, i) => {
      try { JSON.parse(l); } catch { failures.push(`metrics.jsonl line ${i + 1} is not JSON`); }
    });
    const state = path.join(runDir, 'checkpoints', 'last', 'trainer_state.json');
    const step = fs.existsSync(state) ? JSON.parse(fs.readFileSync(state, 'utf8')).step ?? JSON.parse(fs.readFileSync(state, 'utf8')).progress?.step : undefined;
    figures += `; run.json "${rec.status}", last checkpoint ${step === undefined ? 'none' : `at step ${step}`}, no temporary file: "${fin?.message?.replace(/^.*?: writing/, '…: writing')}"`;
  }
  check('disk full on a 700 KiB tmpfs', failures, figures);
}

const t0 = Date.now();
try {
  await ctrlCAtModelLoad();
  const big = idsFile('big.jsonl', 200_000, 12, 7);
  await doubleCtrlC('while tokenizing a 200,000-row file', big, /"detail":"tokenizing /);
  await doubleCtrlC('while the model loads', small, /"phase":"loading-model"/);
  await diskFull();
  console.log('SKIP Ctrl-C while checking/tokenizing, at pre-flight, in training; two in training — covered by test/hostile/interrupt.test.ts');
  console.log('SKIP concurrent resumes refused by run.lock — covered by test/hostile/runLock.test.ts');
  console.log('SKIP kill -9 mid-training, then --resume: the same adapter — covered by test/hostile/killResume.test.ts');
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
const failed = results.filter((r) => r === 'FAIL').length;
console.log(`${results.length} cases, ${failed} failed, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
process.exit(failed ? 1 : 0);
