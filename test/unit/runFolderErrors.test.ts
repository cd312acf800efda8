// A run folder that cannot be created says why and names the folder at fault (issue 13: a
// read-only runs folder read "ENOENT: no such file or directory", because Node's recursive mkdir
// reports the stat of the folder it failed to make). Real refusals where this machine can make
// them: a file in the path (everywhere), a read-only tmpfs mount (root with mount rights), a
// chmod 555 folder (not root: root writes through it); RunDir.assertCanCreateIn says the same
// before anything is made (a session checks it before reading the data).
import { readOnlyMount, unmountReadOnly } from './helpers/readOnlyMount';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunDir, RunStoreError, type RunInit } from '../../src/core/runs';
import { creationError, makeDirs } from '../../src/core/util/durableFiles';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-lab-runfolder-'));
afterAll(() => {
  unmountReadOnly();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const init = (): RunInit => ({
  config: {},
  model: { path: '/models/gpt2', fingerprint: 'abc' },
  dataset: { path: '/data/train.jsonl', sha256: 'f'.repeat(64) },
  backend: {},
  versions: {},
});

const errno = (code: string, p: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: mkdir '${p}'`), { code, path: p });

describe('creationError: what a refused folder says', () => {
  const target = '/w/.lora-lab/runs/20260101-000000-train';
  const advice = 'Choose a writable runs folder.';
  it.each([
    ['EROFS', 'is on a read-only file system (EROFS)'],
    ['EACCES', 'is not writable: permission denied (EACCES)'],
    ['EPERM', 'is not writable: operation not permitted (EPERM)'],
    ['ENOSPC', 'is on a full disk (ENOSPC)'],
  ])('%s names the folder that refused (the parent of what mkdir tried) and the advice', (code, why) => {
    const e = creationError(errno(code, '/w/.lora-lab/runs/20260101-000000-train'), 'the run folder', target, advice) as RunStoreError;
    expect(e).toBeInstanceOf(RunStoreError);
    expect(e.message).toBe(`cannot create the run folder ${target}: the folder /w/.lora-lab/runs ${why}. ${advice}`);
    expect(e.path).toBe('/w/.lora-lab/runs');
  });

  it('other errors pass through unchanged', () => {
    const e = new TypeError('not a file system error');
    expect(creationError(e, 'the run folder', target, advice)).toBe(e);
    const enoent = errno('ENOENT', target);
    expect(creationError(enoent, 'the run folder', target, advice)).toBe(enoent);
  });
});

describe('RunDir.create on a folder it cannot write', () => {
  it('a file where the workspace should be: names the file (ENOTDIR), leaves nothing', () => {
    const file = path.join(tmp, 'not-a-folder');
    fs.writeFileSync(file, 'x');
    const root = path.join(file, '.lora-lab', 'runs');
    expect(() => RunDir.create(root, init())).toThrow(new RegExp(`^cannot create the run folder ${root}/\\d{8}-\\d{6}-train: ${file} is a file, not a folder \\(ENOTDIR\\)\\. Choose a writable runs folder`));
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
  });

  const ro = readOnlyMount(tmp);
  it.runIf(ro !== undefined)('a read-only file system: EROFS with the folder, where Node\'s recursive mkdir says ENOENT', () => {
    const root = path.join(ro!, '.lora-lab', 'runs');
    // The cause, measured: Node's own recursive mkdir misreports the read-only mount.
    expect(() => fs.mkdirSync(root, { recursive: true })).toThrow(/ENOENT/);
    expect(() => makeDirs(root)).toThrow(expect.objectContaining({ code: 'EROFS', path: path.join(ro!, '.lora-lab') }));
    let message = '';
    try {
      RunDir.create(root, init());
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(new RegExp(`^cannot create the run folder ${root}/\\d{8}-\\d{6}-train: the folder ${ro} is on a read-only file system \\(EROFS\\)\\.`));
    expect(message).not.toMatch(/ENOENT/);
    expect(fs.readdirSync(ro!)).toEqual([]);
  });

  const notRoot = process.platform !== 'win32' && process.getuid?.() !== 0;
  it.runIf(notRoot)('a runs folder chmod 555: EACCES naming it, no run folder inside', () => {
    const root = path.join(tmp, 'locked', '.lora-lab', 'runs');
    fs.mkdirSync(root, { recursive: true });
    fs.chmodSync(root, 0o555);
    try {
      expect(() => RunDir.create(root, init())).toThrow(`the folder ${root} is not writable: permission denied (EACCES)`);
      expect(fs.readdirSync(root)).toEqual([]);
    } finally {
      fs.chmodSync(root, 0o755);
    }
  });

  it('assertCanCreateIn says the same before anything is made (a file in the path); a makeable runs folder passes and is not made', () => {
    const file = path.join(tmp, 'also-not-a-folder');
    fs.writeFileSync(file, 'x');
    const root = path.join(file, '.lora-lab', 'runs');
    expect(() => RunDir.assertCanCreateIn(root)).toThrow(`cannot create a run folder in ${root}: ${file} is a file, not a folder (ENOTDIR). Choose a writable runs folder (--runs-dir, or the loraLab.runsFolder setting), or make that folder writable.`);
    const fresh = path.join(tmp, 'fresh', '.lora-lab', 'runs');
    expect(() => RunDir.assertCanCreateIn(fresh)).not.toThrow();
    expect(fs.existsSync(path.join(tmp, 'fresh'))).toBe(false);
    if (ro !== undefined) {
      expect(() => RunDir.assertCanCreateIn(path.join(ro, 'runs'))).toThrow(`cannot create a run folder in ${path.join(ro, 'runs')}: the folder ${ro} is on a read-only file system (EROFS).`);
    }
    if (notRoot) {
      const locked = path.join(tmp, 'locked-early');
      fs.mkdirSync(locked);
      fs.chmodSync(locked, 0o555);
      try {
        expect(() => RunDir.assertCanCreateIn(path.join(locked, 'runs'))).toThrow(`the folder ${locked} is not writable: permission denied (EACCES)`);
      } finally {
        fs.chmodSync(locked, 0o755);
      }
    }
  });

  it('makeDirs makes every missing level and accepts one that exists', () => {
    const deep = path.join(tmp, 'a', 'b', 'c');
    makeDirs(deep);
    makeDirs(deep);
    expect(fs.statSync(deep).isDirectory()).toBe(true);
  });
});
