// Run ids and the runs root: `<runs root>/<yyyymmdd-hhmmss>-<slug>[-n]`, local time of
// creation, slug from the dataset file name; ids are reserved by an exclusive mkdir.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkName, RunStoreError } from '../util/durableFiles';

// Default runs root, relative to the workspace folder.
export const DEFAULT_RUNS_SETTING = path.join('.lora-lab', 'runs');
// Long enough to tell datasets apart, short enough that ids stay readable in a list and paths
// stay far from Windows' 260-character limit.
const MAX_SLUG = 40;
// A bound on the -2, -3… search, reached only if something other than EEXIST is wrong.
const MAX_ID_SUFFIX = 10_000;

/** The runs root: `setting` absolute, `~/…`, or relative to `workspace`; empty means .lora-lab/runs. */
export function runsRoot(workspace: string, setting?: string): string {
  const s = setting?.trim();
  if (!s) return path.resolve(workspace, DEFAULT_RUNS_SETTING);
  const home = s === '~' || s.startsWith('~/') || s.startsWith('~\\');
  return path.resolve(workspace, home ? path.join(os.homedir(), s.slice(1)) : s);
}

/** `yyyymmdd-hhmmss-<slug>` in local time; slug from the dataset file name without extension. */
export function baseRunId(date: Date, datasetPath: string): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  const stamp = `${date.getFullYear()}${p2(date.getMonth() + 1)}${p2(date.getDate())}-${p2(date.getHours())}${p2(date.getMinutes())}${p2(date.getSeconds())}`;
  return `${stamp}-${slugOf(datasetPath)}`;
}

/** The dataset's file name, lowercased, accents dropped, other runs of characters made '-'. */
export function slugOf(datasetPath: string): string {
  // Either separator, so a Windows path gives the same slug on every platform.
  const base = datasetPath.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? '';
  const stem = base.includes('.', 1) ? base.slice(0, base.lastIndexOf('.')) : base;
  const slug = stem
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_SLUG)
    .replace(/-+$/, '');
  return slug || 'run';
}

const withSuffix = (base: string, n: number) => (n === 1 ? base : `${base}-${n}`);

/** A run id not yet taken under `root` (base id, then -2, -3…). RunDir.create reserves it atomically. */
export function newRunId(date: Date, datasetPath: string, root: string): string {
  const base = baseRunId(date, datasetPath);
  for (let n = 1; n <= MAX_ID_SUFFIX; n++) {
    const id = withSuffix(base, n);
    if (!fs.existsSync(path.join(root, id))) return id;
  }
  throw new RunStoreError(`${root} already holds ${MAX_ID_SUFFIX} runs named ${base}…; delete old runs or pick another runs folder.`, root);
}

/** Make `root/id` for a caller-chosen id; refuses one that exists. */
export function reserveGivenId(root: string, id: string): string {
  checkName(id, 'run id', root);
  const dir = path.join(root, id);
  try {
    fs.mkdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new RunStoreError(`run folder ${dir} already exists; choose another id, or leave it out to get a fresh one.`, dir);
    }
    throw e;
  }
  return dir;
}

/** Make the first free `root/base`, `root/base-2`, … and return it. */
export function reserveNewId(root: string, base: string): string {
  for (let n = 1; n <= MAX_ID_SUFFIX; n++) {
    const dir = path.join(root, withSuffix(base, n));
    try {
      fs.mkdirSync(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new RunStoreError(`${root} already holds ${MAX_ID_SUFFIX} runs named ${base}…; delete old runs or pick another runs folder.`, root);
}
