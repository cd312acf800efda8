// Rows left out of training on purpose: `<dataset>.lora-lab-exclude.json` beside a dataset file
// lists line numbers (the lines runs report for their examples: a JSON Lines row's line, a CSV
// record's first line, the line a .txt window starts on). Every loader honours it — training, the
// validation file, the lint — so the next run trains without those rows, and run.json records
// which were left out. The list remembers the dataset's sha256 when it was written: if the file
// changed since, the line numbers may point at other rows, and that is said, not hidden.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/durableFiles';
import { DatasetError } from './errors';

export const EXCLUDE_SUFFIX = '.lora-lab-exclude.json';

export interface ExclusionList {
  version: 1;
  /** The dataset's file name (the list sits beside it). */
  file: string;
  /** sha256 of the dataset when the list was last written. */
  sha256: string;
  /** 1-based line numbers, sorted, unique. */
  lines: number[];
  /** Why a line was excluded (e.g. "step 120: loss 9.1"), by line. */
  notes?: Record<string, string>;
  updatedAt: string;
}

export interface Exclusions {
  /** The exclusion file. */
  file: string;
  list: ExclusionList;
  lines: ReadonlySet<number>;
  /** Set when the dataset changed since the list was written: what to tell the user. */
  stale?: string;
}

export function exclusionFileOf(dataset: string): string {
  return `${dataset}${EXCLUDE_SUFFIX}`;
}

function sha256Sync(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (let n = fs.readSync(fd, buf, 0, buf.length, null); n > 0; n = fs.readSync(fd, buf, 0, buf.length, null)) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** The exclusions of a dataset file, or undefined when it has none. Throws DatasetError naming the list when it is malformed. */
export function readExclusions(dataset: string): Exclusions | undefined {
  const file = exclusionFileOf(dataset);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DatasetError(dataset, `${file} cannot be read: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new DatasetError(dataset, `${file} is not valid JSON (${(e as Error).message}). Fix it or delete it to train on every row of ${path.basename(dataset)}.`);
  }
  const r = raw as Partial<ExclusionList>;
  if (typeof raw !== 'object' || raw === null || !Array.isArray(r.lines) || !r.lines.every((l) => Number.isInteger(l) && l >= 1)) {
    throw new DatasetError(dataset, `${file}: "lines" must be a list of line numbers (whole numbers from 1). Fix it or delete it to train on every row of ${path.basename(dataset)}.`);
  }
  const list: ExclusionList = { version: 1, file: typeof r.file === 'string' ? r.file : path.basename(dataset), sha256: typeof r.sha256 === 'string' ? r.sha256 : '', lines: [...new Set(r.lines)].sort((a, b) => a - b), notes: typeof r.notes === 'object' && r.notes !== null ? r.notes : undefined, updatedAt: typeof r.updatedAt === 'string' ? r.updatedAt : '' };
  const out: Exclusions = { file, list, lines: new Set(list.lines) };
  if (list.sha256 && fs.existsSync(dataset) && sha256Sync(dataset) !== list.sha256) {
    out.stale = `${path.basename(dataset)} changed since ${path.basename(file)} was written (${list.updatedAt || 'at an unknown time'}): its ${list.lines.length} line number${list.lines.length === 1 ? '' : 's'} may now point at other rows. Check them, then save the list again (LoRA Lab: Exclude Rows…) or delete it`;
  }
  return out;
}

/** Adds (or with `remove`, takes out) lines of a dataset's exclusion list, written atomically; returns the list. */
export function updateExclusions(dataset: string, lines: number[], opts: { remove?: boolean; note?: string } = {}): ExclusionList {
  for (const l of lines) if (!Number.isInteger(l) || l < 1) throw new Error(`line numbers are whole numbers from 1, got ${l}`);
  const current = readExclusions(dataset)?.list;
  const set = new Set(current?.lines ?? []);
  const notes: Record<string, string> = { ...(current?.notes ?? {}) };
  for (const l of lines) {
    if (opts.remove) {
      set.delete(l);
      delete notes[String(l)];
    } else {
      set.add(l);
      if (opts.note) notes[String(l)] = opts.note;
    }
  }
  const list: ExclusionList = {
    version: 1,
    file: path.basename(dataset),
    sha256: sha256Sync(dataset),
    lines: [...set].sort((a, b) => a - b),
    ...(Object.keys(notes).length ? { notes } : {}),
    updatedAt: new Date().toISOString(),
  };
  writeFileAtomic(exclusionFileOf(dataset), `${JSON.stringify(list, null, 2)}\n`);
  return list;
}
