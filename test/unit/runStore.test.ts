// The run folder store against its invariants ("nothing is lost"): run.json always holds the last
// complete write, metrics survive a crash up to the line being written, a checkpoint name always
// resolves to a complete folder, dead runs read as interrupted, one writer holds a run's lock at a
// time (stale locks taken over); and the fingerprints (sha256File
// equals node:crypto over the same bytes; the model fingerprint follows config and tensor layout).
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fingerprintModel, sha256File } from '../../src/core/hf/fingerprint';
import { isProcessAlive, listRuns, LOCK_FILE, newRunId, RunDir, RunLockedError, runLockHolder, runsRoot, RunStoreError, slugOf, type RunInit } from '../../src/core/runs';
import { writeSafetensors } from '../../src/core/hf/safetensors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-lab-runs-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const freshRoot = (): string => path.join(tmp, `root-${counter++}`);

const init = (over: Partial<RunInit> = {}): RunInit => ({
  config: { r: 8, lr: 1e-4, nested: { targets: ['c_attn'] } },
  model: { path: '/models/gpt2', fingerprint: 'abc' },
  dataset: { path: '/data/My Chat Set (v2).jsonl', sha256: 'f'.repeat(64) },
  backend: { name: 'wasm', threads: 4 },
  versions: { '@tensorflow/tfjs': '4.22.0' },
  ...over,
});

/** The pid of a process that has exited (and been reaped), so no process owns it now. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  const pid = child.pid;
  if (pid === undefined) throw new Error('spawn gave no pid');
  await new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return pid;
}

describe('run ids and the runs root', () => {
  it('defaults to <workspace>/.lora-lab/runs; a setting is absolute, ~/…, or workspace-relative', () => {
    expect(runsRoot('/ws')).toBe(path.resolve('/ws/.lora-lab/runs'));
    expect(runsRoot('/ws', '  ')).toBe(path.resolve('/ws/.lora-lab/runs'));
    expect(runsRoot('/ws', 'out/runs')).toBe(path.resolve('/ws/out/runs'));
    expect(runsRoot('/ws', '/abs/runs')).toBe(path.resolve('/abs/runs'));
    expect(runsRoot('/ws', '~/runs')).toBe(path.join(os.homedir(), 'runs'));
  });

  it('slug: file name without extension, lowercased, [a-z0-9-] only, at most 40 characters', () => {
    expect(slugOf('/data/My Chat Set (v2).jsonl')).toBe('my-chat-set-v2');
    expect(slugOf('C:\\data\\Café_Données.csv')).toBe('cafe-donnees');
    expect(slugOf('/d/.jsonl')).toBe('jsonl');
    expect(slugOf('/d/???.txt')).toBe('run');
    const long = slugOf(`/d/${'ab-'.repeat(30)}.jsonl`);
    expect(long.length).toBeLessThanOrEqual(40);
    expect(long).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
  });

  it('id is yyyymmdd-hhmmss-<slug> in local time, then -2, -3 when taken', () => {
    const root = freshRoot();
    const d = new Date(2025, 0, 2, 3, 4, 5); // local time
    expect(newRunId(d, '/x/train.jsonl', root)).toBe('20250102-030405-train');
    fs.mkdirSync(path.join(root, '20250102-030405-train'), { recursive: true });
    expect(newRunId(d, '/x/train.jsonl', root)).toBe('20250102-030405-train-2');
    fs.mkdirSync(path.join(root, '20250102-030405-train-2'));
    expect(newRunId(d, '/x/train.jsonl', root)).toBe('20250102-030405-train-3');
  });
});

describe('RunDir.create / open / update / finish', () => {
  it('writes run.json with status running, pid, hostname and the caller’s opaque fields', () => {
    const root = freshRoot();
    const run = RunDir.create(root, init());
    expect(run.id).toMatch(/^\d{8}-\d{6}-[a-z0-9-]+$/);
    expect(run.dir).toBe(path.join(path.resolve(root), run.id));
    const rec = run.record();
    expect(rec).toMatchObject({
      id: run.id,
      name: run.id,
      status: 'running',
      pid: process.pid,
      hostname: os.hostname(),
      config: init().config,
      model: init().model,
      dataset: init().dataset,
      backend: init().backend,
      versions: init().versions,
    });
    expect(Date.parse(rec.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    const onDisk = JSON.parse(fs.readFileSync(path.join(run.dir, 'run.json'), 'utf8'));
    expect(onDisk.formatVersion).toBe(1);
    expect(onDisk.dir).toBeUndefined();
  });

  it('ids are unique: runs created in the same second get -2, -3', () => {
    const root = freshRoot();
    const ids = Array.from({ length: 4 }, () => RunDir.create(root, init()).id);
    expect(new Set(ids).size).toBe(4);
    for (const id of ids) expect(id).toMatch(/^\d{8}-\d{6}-[a-z0-9-]+$/);
  });

  it('an explicit id that exists is refused, naming the folder', () => {
    const root = freshRoot();
    RunDir.create(root, init({ id: 'mine' }));
    expect(() => RunDir.create(root, init({ id: 'mine' }))).toThrow(/mine already exists/);
    expect(() => RunDir.create(root, init({ id: '../escape' }))).toThrow(RunStoreError);
  });

  it('update merges atomically; a stale temp file from a crash mid-update is ignored by open', () => {
    const run = RunDir.create(freshRoot(), init());
    run.update({ summary: { step: 10 }, startedAt: '2025-01-01T00:00:00.000Z' });
    // A crash between writing the temp file and renaming it leaves a half-written sibling.
    fs.writeFileSync(path.join(run.dir, 'run.json.tmp-99999-deadbeef'), '{"status": "compl');
    const rec = RunDir.open(run.dir).record();
    expect(rec.summary).toEqual({ step: 10 });
    expect(rec.status).toBe('running');
    expect(rec.config).toEqual(init().config);
    expect(fs.readdirSync(run.dir).filter((f) => f.startsWith('run.json.tmp-') && !f.includes('99999'))).toEqual([]);
    expect(run.recover()).toContain('removed run.json.tmp-99999-deadbeef (unfinished run.json write)');
  });

  it('update removes keys set to undefined and never changes id', () => {
    const run = RunDir.create(freshRoot(), init());
    run.update({ error: { message: 'x', kind: 'oom' } });
    const rec = run.update({ error: undefined, id: 'other' });
    expect(rec.error).toBeUndefined();
    expect(rec.id).toBe(run.id);
  });

  it('finish sets status, endedAt and durationMs from startedAt', () => {
    const run = RunDir.create(freshRoot(), init());
    const started = new Date(Date.now() - 5000).toISOString();
    run.update({ startedAt: started });
    const rec = run.finish('failed', { error: { message: 'NaN loss at step 3', kind: 'diverged' } });
    expect(rec.status).toBe('failed');
    expect(rec.error?.kind).toBe('diverged');
    expect(rec.durationMs).toBeGreaterThanOrEqual(5000);
    expect(Date.parse(rec.endedAt ?? '') - Date.parse(started)).toBe(rec.durationMs);
  });

  it('open errors name run.json and say what to do when it is missing or corrupt', () => {
    const dir = path.join(freshRoot(), 'broken');
    fs.mkdirSync(dir, { recursive: true });
    expect(() => RunDir.open(dir)).toThrow(/run\.json does not exist.*delete this one/);
    fs.writeFileSync(path.join(dir, 'run.json'), '{"status":');
    expect(() => RunDir.open(dir)).toThrow(/run\.json is not valid JSON/);
    fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ status: 'done', createdAt: 'x' }));
    expect(() => RunDir.open(dir)).toThrow(/"status" is "done"/);
  });
});

describe('metrics.jsonl and train.log', () => {
  it('appends one line per metric and reads them back in order, NaN and Infinity kept', () => {
    const run = RunDir.create(freshRoot(), init());
    run.appendMetric({ step: 1, loss: 2.5, note: 'a\nb' });
    run.appendMetric({ step: 2, loss: Number.NaN, gradNorm: Number.POSITIVE_INFINITY });
    expect(fs.readFileSync(run.metricsPath, 'utf8').split('\n')).toHaveLength(3);
    const rows = run.metrics();
    expect(rows[0]).toEqual({ step: 1, loss: 2.5, note: 'a\nb' });
    expect(rows[1].loss).toBeNaN();
    expect(rows[1].gradNorm).toBe(Number.POSITIVE_INFINITY);
  });

  it('a truncated last line (crash mid-write) is skipped and every line before it kept', () => {
    const run = RunDir.create(freshRoot(), init());
    for (let s = 1; s <= 5; s++) run.appendMetric({ step: s, loss: 1 / s });
    fs.appendFileSync(run.metricsPath, '{"step": 6, "lo');
    const read = run.readMetrics();
    expect(read.rows.map((r) => r.step)).toEqual([1, 2, 3, 4, 5]);
    expect(read.truncatedTail).toBe(true);
    expect(read.corruptLines).toEqual([]);
    // A later append (e.g. a new RunDir on the same folder) starts on a fresh line.
    RunDir.open(run.dir).appendMetric({ step: 6, loss: 0.1 });
    const after = run.readMetrics();
    expect(after.rows.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(after.corruptLines).toEqual([6]);
    expect(after.truncatedTail).toBe(false);
  });

  it('log lines carry ISO timestamps, one per line', () => {
    const run = RunDir.create(freshRoot(), init());
    run.log('started');
    run.log('two\nlines');
    const lines = fs.readFileSync(run.logPath, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
    expect(lines[2].endsWith(' lines')).toBe(true);
  });
});

describe('checkpoints', () => {
  const read = (dir: string, f: string) => fs.readFileSync(path.join(dir, f), 'utf8');

  it('write then replace: the old content is gone, the new one complete', () => {
    const run = RunDir.create(freshRoot(), init());
    const dir = run.writeCheckpoint('last', { 'a.txt': 'old-a', 'old-only.txt': 'x', 'sub/b.bin': new Uint8Array([1, 2]) });
    expect(dir).toBe(path.join(run.dir, 'checkpoints', 'last'));
    expect(read(dir, 'a.txt')).toBe('old-a');
    expect([...fs.readFileSync(path.join(dir, 'sub/b.bin'))]).toEqual([1, 2]);
    run.writeCheckpoint('last', { 'a.txt': 'new-a', 'b.txt': 'new-b' });
    expect(fs.readdirSync(dir).sort()).toEqual(['a.txt', 'b.txt']);
    expect(read(dir, 'a.txt')).toBe('new-a');
    expect(fs.readdirSync(run.checkpointsDir)).toEqual(['last']);
    expect(run.listCheckpoints().map((c) => c.name)).toEqual(['last']);
  });

  it('a writer that throws midway leaves the previous checkpoint intact and no temp folder listed', () => {
    const run = RunDir.create(freshRoot(), init());
    run.writeCheckpoint('step-10', { 'w.txt': 'good' });
    expect(() =>
      run.writeCheckpointWith('step-10', (tmpDir) => {
        fs.writeFileSync(path.join(tmpDir, 'w.txt'), 'half');
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    expect(read(run.checkpointDir('step-10') ?? '', 'w.txt')).toBe('good');
    expect(run.listCheckpoints().map((c) => c.name)).toEqual(['step-10']);
    expect(fs.readdirSync(run.checkpointsDir)).toEqual(['step-10']);
  });

  it('a crash between the two renames still resolves the name to the complete old folder', () => {
    const run = RunDir.create(freshRoot(), init());
    const dir = run.writeCheckpoint('best', { 'w.txt': 'old' });
    // State after "rename old aside" with the new folder still a temp: what a crash leaves.
    const aside = path.join(run.checkpointsDir, '.old-best-4242-0badf00d');
    fs.renameSync(dir, aside);
    fs.mkdirSync(path.join(run.checkpointsDir, '.tmp-best-4242-0badf00d'));
    expect(run.checkpointDir('best')).toBe(aside);
    expect(run.listCheckpoints()).toEqual([expect.objectContaining({ name: 'best', dir: aside })]);
    expect(run.recover().sort()).toEqual(['removed .tmp-best-4242-0badf00d (unfinished write or delete)', 'restored best from .old-best-4242-0badf00d']);
    expect(read(run.checkpointDir('best') ?? '', 'w.txt')).toBe('old');
    expect(fs.readdirSync(run.checkpointsDir)).toEqual(['best']);
  });

  it('listCheckpoints is oldest first; deleteCheckpoint removes one; a Promise-returning sync writer is refused', async () => {
    const run = RunDir.create(freshRoot(), init());
    run.writeCheckpoint('step-2', { f: '2' });
    fs.utimesSync(run.checkpointDir('step-2') ?? '', new Date(2000, 0, 1), new Date(2000, 0, 1));
    await run.writeCheckpointWithAsync('step-1', async (d) => fs.promises.writeFile(path.join(d, 'f'), '1'));
    expect(run.listCheckpoints().map((c) => c.name)).toEqual(['step-2', 'step-1']);
    run.deleteCheckpoint('step-2');
    expect(run.listCheckpoints().map((c) => c.name)).toEqual(['step-1']);
    expect(() => run.writeCheckpointWith('x', (async () => undefined) as unknown as (d: string) => void)).toThrow(/async variant/);
    expect(run.checkpointDir('x')).toBeUndefined();
    expect(() => run.writeCheckpoint('.hidden', {})).toThrow(/not a valid folder name/);
  });

  it('writeAdapterWith writes adapter/ atomically', () => {
    const run = RunDir.create(freshRoot(), init());
    expect(run.writeAdapterWith((d) => fs.writeFileSync(path.join(d, 'adapter_config.json'), '{}'))).toBe(run.adapterDir);
    expect(fs.readdirSync(run.adapterDir)).toEqual(['adapter_config.json']);
  });
});

describe('listRuns', () => {
  it('newest first; a running run with a dead pid is interrupted, one with our pid is running; bad folders are problems', async () => {
    const root = freshRoot();
    const alive = RunDir.create(root, init({ id: 'b-alive' }));
    const dead = RunDir.create(root, init({ id: 'a-dead' }));
    const pid = await deadPid();
    expect(isProcessAlive(pid)).toBe(false);
    expect(isProcessAlive(process.pid)).toBe(true);
    dead.update({ pid, createdAt: '2030-01-01T00:00:00.000Z' });
    fs.mkdirSync(path.join(root, 'not-a-run'));
    fs.mkdirSync(path.join(root, '.hidden'));

    const { runs, problems } = listRuns(root);
    expect(runs.map((r) => [r.id, r.status])).toEqual([
      ['a-dead', 'interrupted'],
      ['b-alive', 'running'],
    ]);
    expect(problems).toHaveLength(1);
    expect(problems[0].dir).toBe(path.join(path.resolve(root), 'not-a-run'));
    expect(dead.record().status).toBe('running'); // not persisted without markInterrupted

    listRuns(root, { markInterrupted: true });
    expect(dead.record().status).toBe('interrupted');
    expect(dead.record().endedAt).toBeDefined();
    expect(alive.record().status).toBe('running');
    expect(listRuns(path.join(root, 'missing'))).toEqual({ runs: [], problems: [] });
  });

  it('isProcessAlive is false for pids that address groups (0, negative) or are not integers', () => {
    expect(isProcessAlive(0)).toBe(false);
    expect(isProcessAlive(-1)).toBe(false);
    expect(isProcessAlive(1.5)).toBe(false);
  });
});

describe('fingerprints', () => {
  it('sha256File equals node:crypto over the same bytes (multi-chunk file)', async () => {
    const file = path.join(tmp, 'data.bin');
    const bytes = crypto.randomBytes(300_000); // several 64 KiB stream chunks
    fs.writeFileSync(file, bytes);
    expect(await sha256File(file)).toBe(crypto.createHash('sha256').update(bytes).digest('hex'));
    await expect(sha256File(path.join(tmp, 'nope.jsonl'))).rejects.toThrow(/nope\.jsonl/);
  });

  function modelDir(label: string, config: object, shape: number[], values: number): string {
    const dir = path.join(tmp, `model-${label}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    const n = shape.reduce((a, b) => a * b, 1);
    writeSafetensors(path.join(dir, 'model.safetensors'), [{ name: 'w', shape, dtype: 'F32', data: new Float32Array(n).fill(values) }], { format: 'pt' });
    return dir;
  }

  it('is stable, changes with config.json or the tensor layout, not with weight values alone', () => {
    const base = fingerprintModel(modelDir('a', { n_embd: 4 }, [2, 4], 1));
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprintModel(path.join(tmp, 'model-a'))).toBe(base);
    expect(fingerprintModel(modelDir('same', { n_embd: 4 }, [2, 4], 1))).toBe(base);
    expect(fingerprintModel(modelDir('cfg', { n_embd: 5 }, [2, 4], 1))).not.toBe(base);
    expect(fingerprintModel(modelDir('shape', { n_embd: 4 }, [4, 2], 1))).not.toBe(base);
    // Documented limit: it identifies the checkpoint layout, not every byte.
    expect(fingerprintModel(modelDir('vals', { n_embd: 4 }, [2, 4], 2))).toBe(base);
  });

  it('errors name the file: missing config.json, truncated safetensors', () => {
    const dir = path.join(tmp, 'model-bad');
    fs.mkdirSync(dir, { recursive: true });
    expect(() => fingerprintModel(dir)).toThrow(/config\.json/);
    fs.writeFileSync(path.join(dir, 'config.json'), '{}');
    fs.writeFileSync(path.join(dir, 'model.safetensors'), Buffer.from([255, 0, 0, 0, 0, 0, 0, 0, 123]));
    expect(() => fingerprintModel(dir)).toThrow(/model\.safetensors: header length 255/);
  });
});

describe('the run lock (run.lock): one writer per run', () => {
  it('holds pid, hostname, start time and job while held; release removes it, twice is harmless', () => {
    const run = RunDir.create(freshRoot(), init());
    const lock = run.lock('training');
    const file = path.join(run.dir, LOCK_FILE);
    const held = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(held).toEqual({ pid: process.pid, hostname: os.hostname(), since: lock.holder.since, job: 'training' });
    expect(Date.parse(held.since)).toBeGreaterThan(Date.now() - 60_000);
    expect(runLockHolder(run.dir)).toEqual(held);
    lock.release();
    lock.release();
    expect(fs.existsSync(file)).toBe(false);
    expect(runLockHolder(run.dir)).toBeUndefined();
    expect(fs.readdirSync(run.dir).filter((f) => f.startsWith(LOCK_FILE))).toEqual([]); // no temp files left
  });

  it('a second writer is refused while the first holds it (in this process too), and gets it once released', () => {
    const run = RunDir.create(freshRoot(), init());
    const first = run.lock('training');
    let refused: unknown;
    try {
      RunDir.open(run.dir).lock('evaluation');
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(RunLockedError);
    expect((refused as Error).message).toBe(`run ${run.id} is being written by pid ${process.pid} on ${os.hostname()} since ${first.holder.since} (training): wait for it to finish or stop that process first`);
    first.release();
    const second = run.lock('evaluation');
    expect(runLockHolder(run.dir)?.job).toBe('evaluation');
    second.release();
  });

  it('release leaves alone a lock that is no longer its own', () => {
    const run = RunDir.create(freshRoot(), init());
    const lock = run.lock('training');
    const file = path.join(run.dir, LOCK_FILE);
    const other = JSON.stringify({ pid: 999_999, hostname: 'elsewhere', since: '2026-01-01T00:00:00.000Z' });
    fs.writeFileSync(file, other);
    lock.release();
    expect(fs.readFileSync(file, 'utf8')).toBe(other);
  });

  it("a dead pid's lock on this host is taken over, with a note in train.log", async () => {
    const run = RunDir.create(freshRoot(), init());
    const pid = await deadPid();
    fs.writeFileSync(path.join(run.dir, LOCK_FILE), JSON.stringify({ pid, hostname: os.hostname(), since: '2026-01-02T03:04:05.000Z', job: 'training' }));
    const lock = run.lock('training');
    expect(lock.tookOverFrom).toMatchObject({ pid });
    expect(runLockHolder(run.dir)?.pid).toBe(process.pid);
    expect(fs.readFileSync(run.logPath, 'utf8')).toMatch(new RegExp(`took over the run lock of pid ${pid} on .+ \\(since 2026-01-02T03:04:05.000Z, training\\): that process is no longer running`));
    lock.release();
  });

  it('this pid in a lock this process does not hold is a dead holder whose pid was reused: taken over', () => {
    const run = RunDir.create(freshRoot(), init());
    fs.writeFileSync(path.join(run.dir, LOCK_FILE), JSON.stringify({ pid: process.pid, hostname: os.hostname(), since: '2026-01-02T03:04:05.000Z' }));
    const lock = run.lock('training');
    expect(lock.tookOverFrom?.pid).toBe(process.pid);
    lock.release();
  });

  it('an unreadable lock is respected while fresh (being written) and taken over once old', () => {
    const run = RunDir.create(freshRoot(), init());
    const file = path.join(run.dir, LOCK_FILE);
    fs.writeFileSync(file, '');
    expect(() => run.lock('training')).toThrow(RunLockedError);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(file, old, old);
    const lock = run.lock('training');
    expect(runLockHolder(run.dir)?.pid).toBe(process.pid);
    lock.release();
  });
});
