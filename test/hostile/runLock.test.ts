// One writer per run folder (run.lock): two `lora-lab train --resume` of one run started together
// in two processes — exactly one trains, the other is refused naming the holder and writes
// nothing, and every step is logged once with the checkpoint at the last step; a lock left by a
// dead process is taken over with a note in train.log; a live holder (this process, another
// host) refuses a resume, an evaluation and a merge into the run's folder.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/core/train/checkpoint';
import { evaluateSavedRun } from '../../src/core/runEval';
import { LOCK_FILE, RunDir } from '../../src/core/runs';
import { runSession, type SessionEvent } from '../../src/core/session';
import { cli } from '../unit/helpers/cli';
import { ROOT, runCliChild } from './helpers/childCli';
import { writeIdsDataset } from './helpers/idsDataset';

const MODEL = path.join(ROOT, 'test', 'fixtures', 'gpt2-tiny');

/** A run of `maxSteps` cancelled after step 2 (its last checkpoint at step 2): something to resume. */
async function cancelledRun(maxSteps: number): Promise<RunDir> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-hostile-lock-'));
  const data = path.join(dir, 'train.jsonl');
  writeIdsDataset(data, 11);
  const abort = new AbortController();
  let fin: Extract<SessionEvent, { type: 'finished' }> | undefined;
  for await (const e of runSession({ model: MODEL, data, workspace: dir, backend: 'wasm', training: { maxSteps, batchSize: 4, learningRate: 1e-2 } }, { signal: abort.signal })) {
    if (e.type === 'step' && e.step === 2) abort.abort();
    if (e.type === 'finished') fin = e;
  }
  expect(fin).toMatchObject({ status: 'cancelled' });
  return RunDir.open(fin!.runDir!);
}

function steps(run: RunDir): number[] {
  return run.metrics().filter((m) => m.type === 'step').map((m) => m.step as number);
}

describe('one writer per run', () => {
  it('two concurrent resumes of one run: exactly one trains, the other exits 1 naming it, and each step is logged once', async () => {
    const run = await cancelledRun(40);
    expect(steps(run)).toEqual([1, 2]);
    const resume = () => runCliChild(['train', '--resume', run.dir, '--json'], os.tmpdir());
    const [a, b] = await Promise.all([resume(), resume()]);
    const [winner, loser] = a.code === 0 ? [a, b] : [b, a];
    expect([winner.code, loser.code]).toEqual([0, 1]);
    const winnerPid = run.record().pid; // the process that trained recorded itself in run.json
    expect(winnerPid).not.toBe(process.pid);
    expect(loser.out).toContain(`"errorKind":"locked"`);
    expect(loser.out).toContain(`run ${run.id} is being written by pid ${winnerPid} on ${os.hostname()} since `);
    expect(loser.out).not.toContain('"type":"step"');
    expect(steps(run)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(readCheckpoint(run.checkpointDir('last')!).progress.step).toBe(40);
    const rec = run.record();
    expect(rec.status).toBe('completed');
    expect(fs.readFileSync(run.logPath, 'utf8')).not.toMatch(/locked|being written/); // the loser wrote nothing into the run
    expect(fs.existsSync(path.join(run.dir, LOCK_FILE))).toBe(false); // released at the end
  });

  it('a lock left by a dead process is taken over, noted in train.log, and released at the end', async () => {
    const run = await cancelledRun(4);
    const dead = spawn(process.execPath, ['-e', '']);
    const pid = dead.pid!;
    await new Promise((resolve) => dead.on('exit', resolve));
    const since = '2026-01-02T03:04:05.000Z';
    fs.writeFileSync(path.join(run.dir, LOCK_FILE), JSON.stringify({ pid, hostname: os.hostname(), since, job: 'training' }));
    const events: SessionEvent[] = [];
    for await (const e of runSession({}, { resumeRunDir: run.dir })) events.push(e);
    expect(events.at(-1)).toMatchObject({ type: 'finished', status: 'completed' });
    expect(fs.readFileSync(run.logPath, 'utf8')).toContain(`took over the run lock of pid ${pid} on ${os.hostname()} (since ${since}, training): that process is no longer running`);
    expect(steps(run)).toEqual([1, 2, 3, 4]);
    expect(fs.existsSync(path.join(run.dir, LOCK_FILE))).toBe(false);
  });

  it('while a live process holds the run, a resume, an evaluation and a merge into it are refused and change nothing', async () => {
    const run = await cancelledRun(4);
    const before = [run.runJsonPath, run.metricsPath, run.logPath].map((f) => fs.readFileSync(f, 'utf8'));
    const lock = run.lock('merge');
    try {
      const events: SessionEvent[] = [];
      for await (const e of runSession({}, { resumeRunDir: run.dir })) events.push(e);
      const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
      expect(fin).toMatchObject({ status: 'failed', errorKind: 'locked' });
      expect(fin.runDir).toBeUndefined();
      expect(fin.message).toMatch(new RegExp(`^run ${run.id} is being written by pid ${process.pid} on ${os.hostname()} since \\S+ \\(merge\\)`));
      await expect(evaluateSavedRun(run.dir)).rejects.toThrow(`run ${run.id} is being written by pid ${process.pid}`);
      const merge = await cli(['merge', '--model', MODEL, '--adapter', path.join(MODEL, 'lora-r4-c_attn'), '--out', path.join(run.dir, 'merged')]);
      expect(merge.code).toBe(1);
      expect(merge.err).toContain(`lora-lab merge: run ${run.id} is being written by pid ${process.pid}`);
      expect(fs.existsSync(path.join(run.dir, 'merged'))).toBe(false);
      expect([run.runJsonPath, run.metricsPath, run.logPath].map((f) => fs.readFileSync(f, 'utf8'))).toEqual(before);
    } finally {
      lock.release();
    }
    expect(fs.existsSync(path.join(run.dir, LOCK_FILE))).toBe(false);
  });

  it('a lock from another host cannot be checked: refused, saying which file to delete if that process is gone', async () => {
    const run = await cancelledRun(4);
    const file = path.join(run.dir, LOCK_FILE);
    fs.writeFileSync(file, JSON.stringify({ pid: 1234, hostname: 'other-host.example', since: '2026-01-02T03:04:05.000Z', job: 'training' }));
    expect(() => run.lock('training')).toThrow(`run ${run.id} is being written by pid 1234 on other-host.example since 2026-01-02T03:04:05.000Z (training): wait for it to finish; if that process is gone, delete ${file}`);
    expect(fs.existsSync(file)).toBe(true);
  });
});
