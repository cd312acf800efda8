// The host's reading of a run's `evals/` (issue 16) and the panel protocol around it: every
// report decoded (one that fails says which file and why, no throw), sorted by name; a RunDetail
// carries them and the panel's decoder reads them back; the watcher calls back once per burst of
// writes when a report appears, changes or goes, and also when `evals/` itself is created later.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isHostNotification, LoadRuns, type RunCaseReport } from '../../src/protocol/panel';
import { RunDir } from '../../src/core/runs';
import { readRunCases, RunCasesWatcher } from '../../src/host/runCases';
import { runDetail } from '../../src/host/runsModel';

const FIXTURE = path.join(__dirname, '../fixtures/cases/devil.json');
const dirs: string[] = [];
const watchers: RunCasesWatcher[] = [];
afterEach(() => {
  watchers.splice(0).forEach((w) => w.dispose());
  dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});

function runDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-cases-'));
  dirs.push(d);
  return d;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(f: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error('timed out waiting for the watcher');
    await sleep(20);
  }
}

describe('readRunCases', () => {
  it('is empty for a run without evals/', () => {
    expect(readRunCases(runDir())).toEqual([]);
  });

  it('reads every report by name; a broken one is its name and why, the others still read', () => {
    const dir = runDir();
    fs.mkdirSync(path.join(dir, 'evals'));
    fs.copyFileSync(FIXTURE, path.join(dir, 'evals', 'devil.json'));
    fs.writeFileSync(path.join(dir, 'evals', 'broken.json'), '{"formatVersion": 1, "createdAt"');
    fs.writeFileSync(path.join(dir, 'evals', 'old.json'), JSON.stringify({ formatVersion: 0 }));
    fs.writeFileSync(path.join(dir, 'evals', 'notes.txt'), 'not a report');
    const cases = readRunCases(dir);
    expect(cases.map((c) => c.name)).toEqual(['broken.json', 'devil.json', 'old.json']);
    expect(cases[0].error).toMatch(/^evals\/broken\.json is not valid JSON \(.+\); run the cases again to rewrite it$/);
    expect(cases[1].report?.models.map((m) => m.label)).toContain('adapter');
    expect(cases[2].error).toMatch(/^evals\/old\.json is not a case report: "formatVersion" is 0, expected 1/);
  });
});

describe('panel protocol', () => {
  it('a run’s detail carries its case reports (runsModel), and they survive the LoadRuns reply decoder; runCases is a notification', () => {
    const run = RunDir.create(runDir(), { name: 'devil', config: {}, model: { path: '/m', fingerprint: 'f' }, dataset: { path: '/d/train.jsonl', sha256: '0'.repeat(64) } });
    fs.mkdirSync(path.join(run.dir, 'evals'));
    fs.copyFileSync(FIXTURE, path.join(run.dir, 'evals', 'devil.json'));
    fs.writeFileSync(path.join(run.dir, 'evals', 'bad.json'), '[]');
    const problems: string[] = [];
    const detail = runDetail(run.dir, (p) => problems.push(p));
    expect(detail.cases?.map((c) => c.name)).toEqual(['bad.json', 'devil.json']);
    expect(detail.cases?.[0].error).toMatch(/^evals\/bad\.json is not a case report: /);
    expect(problems).toEqual([`${run.dir}: ${detail.cases?.[0].error}`]);
    const d = LoadRuns.reply(JSON.parse(JSON.stringify([detail])));
    if (!d.ok) expect.fail(d.error);
    expect(d.ok && d.value[0].cases).toEqual(detail.cases);
    expect(isHostNotification({ type: 'runCases', runId: detail.summary.id, cases: detail.cases })).toBe(true);
  });

  it('a run without case reports has no `cases` in its detail', () => {
    const run = RunDir.create(runDir(), { name: 'plain', config: {}, model: { path: '/m', fingerprint: 'f' }, dataset: { path: '/d/train.jsonl', sha256: '0'.repeat(64) } });
    expect('cases' in runDetail(run.dir)).toBe(false);
  });
});

describe('RunCasesWatcher', () => {
  it('calls back when a report is written, rewritten and removed, and when evals/ appears later', async () => {
    const dir = runDir();
    const seen: RunCaseReport[][] = [];
    const w = new RunCasesWatcher((id, d, cases) => {
      expect([id, d]).toEqual(['r1', dir]);
      seen.push(cases);
    }, { debounceMs: 50 });
    watchers.push(w);
    w.watch('r1', dir);
    // evals/ does not exist yet: the run folder's watcher sees it come.
    fs.mkdirSync(path.join(dir, 'evals'));
    await sleep(120);
    fs.copyFileSync(FIXTURE, path.join(dir, 'evals', 'devil.json'));
    await until(() => seen.some((c) => c.length === 1 && !!c[0].report));
    const n = seen.length;
    fs.writeFileSync(path.join(dir, 'evals', 'devil.json'), 'not json');
    await until(() => seen.length > n && !!seen[seen.length - 1][0]?.error);
    fs.rmSync(path.join(dir, 'evals', 'devil.json'));
    await until(() => seen[seen.length - 1].length === 0);
    // As writeFileAtomic writes (core/util/durableFiles): a temp file beside, renamed over the report.
    const tmp = path.join(dir, 'evals', 'devil.json.tmp-1234');
    fs.copyFileSync(FIXTURE, tmp);
    fs.renameSync(tmp, path.join(dir, 'evals', 'devil.json'));
    await until(() => seen[seen.length - 1].length === 1 && !!seen[seen.length - 1][0].report);
    // evals/ removed and made again (a run folder restored): still watched.
    fs.rmSync(path.join(dir, 'evals'), { recursive: true });
    await until(() => seen[seen.length - 1].length === 0);
    fs.mkdirSync(path.join(dir, 'evals'));
    await sleep(120);
    fs.copyFileSync(FIXTURE, path.join(dir, 'evals', 'again.json'));
    await until(() => seen[seen.length - 1][0]?.name === 'again.json');
  });

  it('keeps the most recent runs only, and stops calling back once disposed', async () => {
    const a = runDir();
    const b = runDir();
    const calls: string[] = [];
    const w = new RunCasesWatcher((id) => calls.push(id), { debounceMs: 30, max: 1 });
    watchers.push(w);
    w.watch('a', a);
    w.watch('b', b);
    expect(w.watched()).toEqual(['b']);
    w.dispose();
    fs.mkdirSync(path.join(b, 'evals'));
    fs.copyFileSync(FIXTURE, path.join(b, 'evals', 'x.json'));
    await sleep(150);
    expect(calls).toEqual([]);
  });
});
