// Crash-safe file system steps for the run folder: fsync, write-temp-then-rename for single
// files, and atomic replacement of whole folders (checkpoints, the adapter).
// POSIX rename is atomic within one file system, so every temp lives next to its target.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Errors of the run store: `path` is the file or folder involved. */
export class RunStoreError extends Error {
  constructor(message: string, readonly path: string) {
    super(message);
    this.name = 'RunStoreError';
  }
}

// Prefixes of the hidden siblings used while replacing: a leading dot keeps them out of
// listings, and the name tells a human what a leftover is. `.old-` folders hold a complete
// previous version (see commitDirAtomically).
export const TEMP_PREFIX = '.tmp-';
export const ASIDE_PREFIX = '.old-';
const DELETE_PREFIX = '.del-';

/** A name unique to this process and call, for temp siblings. */
export function tempSuffix(): string {
  return `${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

/** Single path segment a user or trainer may name a checkpoint or run with. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function checkName(name: string, what: string, where: string): void {
  if (!SAFE_NAME.test(name) || name.length > 200) {
    throw new RunStoreError(
      `${what} ${JSON.stringify(name)} is not a valid folder name (use letters, digits, ".", "_" and "-", starting with a letter or digit)`,
      where,
    );
  }
}

/**
 * `mkdir -p` that reports the real reason. Node's recursive mkdir, when a mkdir fails, stats the
 * folder it could not make and throws that stat's error instead, so a read-only file system read
 * "ENOENT: no such file or directory" (measured on Node 20.20 with a read-only mount). Here each
 * missing folder is made on its own, and the first failure is thrown as it is (EROFS, EACCES…).
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) {
    missing.push(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // made meanwhile by another process
    }
  }
}

// Why a folder cannot be written to, by errno code, after the folder's path.
const NOT_WRITABLE: Record<string, string> = {
  EROFS: 'is on a read-only file system (EROFS)',
  EACCES: 'is not writable: permission denied (EACCES)',
  EPERM: 'is not writable: operation not permitted (EPERM)',
  ENOSPC: 'is on a full disk (ENOSPC)',
  EDQUOT: 'is over its disk quota (EDQUOT)',
};

/**
 * The error to show when `target` could not be created: for a file system refusal, a
 * RunStoreError naming the folder that refused and why, then `advice`; anything else as it is.
 */
export function creationError(e: unknown, what: string, target: string, advice: string): unknown {
  const err = e as NodeJS.ErrnoException;
  const code = err?.code ?? '';
  const at = typeof err?.path === 'string' ? err.path : target;
  if (code === 'ENOTDIR') {
    let file = path.dirname(at);
    while (!statOrUndefined(file)?.isFile() && path.dirname(file) !== file) file = path.dirname(file);
    return new RunStoreError(`cannot create ${what} ${target}: ${file} is a file, not a folder (ENOTDIR). ${advice}`, file);
  }
  const why = NOT_WRITABLE[code];
  if (!why) return e;
  // The failing call names what it tried to make; the folder that refused is the one holding it.
  const folder = path.dirname(at);
  return new RunStoreError(`cannot create ${what} ${target}: the folder ${folder} ${why}. ${advice}`, folder);
}

/**
 * What making a folder inside `root` would throw, found without making anything (so work that
 * would be lost is not started): the nearest existing folder at or above `root` must be a folder
 * this process may write to (EACCES, EROFS from access(2)). Worded by creationError; undefined
 * when it looks creatable (a full disk or a race still shows when the folder is made).
 */
export function cannotCreateIn(root: string, what: string, target: string, advice: string): unknown {
  let d = path.resolve(root);
  let made = path.join(d, '_'); // the level that would be made in d
  let st = statOrUndefined(d);
  while (!st && path.dirname(d) !== d) {
    made = d;
    d = path.dirname(d);
    st = statOrUndefined(d);
  }
  if (!st) return undefined;
  const at = (e: Error, code: string) => Object.assign(e, { code, path: made });
  if (!st.isDirectory()) return creationError(at(new Error(`ENOTDIR: not a directory, mkdir '${made}'`), 'ENOTDIR'), what, target, advice);
  try {
    fs.accessSync(d, fs.constants.W_OK);
  } catch (e) {
    return creationError(at(e as Error, (e as NodeJS.ErrnoException).code ?? ''), what, target, advice);
  }
  return undefined;
}

/** fsync a folder so renames and new entries in it survive a power loss. */
export function fsyncDir(dir: string): void {
  // Windows cannot open a folder for fsync; NTFS journals metadata itself.
  if (process.platform === 'win32') return;
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** fsync every file and folder under `dir` (the folder included). */
export function fsyncTree(dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) fsyncTree(p);
    else if (entry.isFile()) {
      // POSIX fsyncs through a read-only descriptor (so read-only files work); Windows'
      // FlushFileBuffers needs write access.
      const fd = fs.openSync(p, process.platform === 'win32' ? 'r+' : 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
  }
  fsyncDir(dir);
}

/** Write `data` to a sibling temp file, fsync it, rename it over `file`, fsync the folder. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = path.join(path.dirname(file), `${path.basename(file)}${TEMP_PREFIX}${tempSuffix()}`);
  try {
    const fd = fs.openSync(tmp, 'wx');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(path.dirname(file));
}

/** Append bytes to `file` and fsync before returning. */
export function appendDurable(file: string, data: string): void {
  const fd = fs.openSync(file, 'a');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether a non-empty `file` does not end in a newline (a write cut short by a crash). */
export function endsMidLine(file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return false;
    const last = Buffer.alloc(1);
    fs.readSync(fd, last, 0, 1, size - 1);
    return last[0] !== 0x0a;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Build folder `parent/name` through `write(tmpDir)` and swap it in so that a complete version
 * (old or new) exists at every moment:
 *   1. write into `parent/.tmp-<name>-…`, fsync every file;
 *   2. if `name` exists, rename it to `parent/.old-<name>-…` (still complete);
 *   3. rename the temp folder to `name`, fsync `parent`;
 *   4. delete the `.old-` folder.
 * A crash between 2 and 3 leaves only the `.old-` folder: resolveDir finds it.
 * If `write` throws, the temp folder is removed and `name` is untouched.
 */
export function commitDirAtomically(parent: string, name: string, write: (tmpDir: string) => void): string {
  const tmp = prepareTemp(parent, name);
  try {
    const result: unknown = write(tmp);
    if (result && typeof (result as { then?: unknown }).then === 'function') {
      throw new RunStoreError(`the writer for ${name} returned a Promise; use the async variant (…Async) so the folder is renamed only after it resolves`, path.join(parent, name));
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return swapIn(parent, name, tmp);
}

/** commitDirAtomically for writers that finish asynchronously. */
export async function commitDirAtomicallyAsync(parent: string, name: string, write: (tmpDir: string) => Promise<void>): Promise<string> {
  const tmp = prepareTemp(parent, name);
  try {
    await write(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return swapIn(parent, name, tmp);
}

function prepareTemp(parent: string, name: string): string {
  makeDirs(parent);
  const tmp = path.join(parent, `${TEMP_PREFIX}${name}-${tempSuffix()}`);
  fs.mkdirSync(tmp);
  return tmp;
}

function swapIn(parent: string, name: string, tmp: string): string {
  const final = path.join(parent, name);
  let aside: string | undefined;
  try {
    fsyncTree(tmp);
    if (fs.existsSync(final)) {
      const target = path.join(parent, `${ASIDE_PREFIX}${name}-${tempSuffix()}`);
      fs.renameSync(final, target);
      aside = target;
    }
    fs.renameSync(tmp, final);
  } catch (e) {
    // Put the old version back so `name` keeps resolving to a complete folder.
    if (aside) fs.renameSync(aside, final);
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  fsyncDir(parent);
  if (aside) fs.rmSync(aside, { recursive: true, force: true });
  return final;
}

/**
 * The complete folder for `name` in `parent`: `name` itself, or — after a crash between the
 * two renames of commitDirAtomically — its newest `.old-<name>-…` copy. Reads only.
 */
export function resolveDir(parent: string, name: string): string | undefined {
  const direct = path.join(parent, name);
  if (isDir(direct)) return direct;
  let best: { dir: string; mtimeMs: number } | undefined;
  for (const entry of safeReaddir(parent)) {
    if (!entry.startsWith(`${ASIDE_PREFIX}${name}-`) || asideName(entry) !== name) continue;
    const dir = path.join(parent, entry);
    const st = statOrUndefined(dir);
    if (st?.isDirectory() && (!best || st.mtimeMs > best.mtimeMs)) best = { dir, mtimeMs: st.mtimeMs };
  }
  return best?.dir;
}

/** `name` from `.old-<name>-<pid>-<hex>`, or undefined when `entry` is not an aside folder. */
export function asideName(entry: string): string | undefined {
  const m = /^\.old-(.+)-\d+-[0-9a-f]{8}$/.exec(entry);
  return m ? m[1] : undefined;
}

/** Remove a folder so that it disappears in one step (rename) before its files are deleted. */
export function removeDirAtomically(dir: string): void {
  if (!fs.existsSync(dir)) return;
  const doomed = path.join(path.dirname(dir), `${DELETE_PREFIX}${path.basename(dir)}-${tempSuffix()}`);
  fs.renameSync(dir, doomed);
  fsyncDir(path.dirname(dir));
  fs.rmSync(doomed, { recursive: true, force: true });
}

/**
 * Tidy what crashed writers left in `parent`: delete `.tmp-` and `.del-` folders, delete an
 * `.old-<name>-…` folder when `name` exists, otherwise rename the newest one back to `name`.
 * Only safe while no process writes into `parent`. Returns what it did, one line per entry.
 */
export function sweepLeftovers(parent: string): string[] {
  const done: string[] = [];
  const entries = safeReaddir(parent);
  const asides = entries
    .filter((e) => asideName(e) !== undefined)
    .map((e) => ({ entry: e, name: asideName(e) as string, mtimeMs: statOrUndefined(path.join(parent, e))?.mtimeMs ?? 0 }))
    .sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const a of asides) {
    const src = path.join(parent, a.entry);
    if (fs.existsSync(path.join(parent, a.name))) {
      fs.rmSync(src, { recursive: true, force: true });
      done.push(`removed ${a.entry} (superseded by ${a.name})`);
    } else {
      fs.renameSync(src, path.join(parent, a.name));
      done.push(`restored ${a.name} from ${a.entry}`);
    }
  }
  for (const e of entries) {
    if (e.startsWith(TEMP_PREFIX) || e.startsWith(DELETE_PREFIX)) {
      fs.rmSync(path.join(parent, e), { recursive: true, force: true });
      done.push(`removed ${e} (unfinished write or delete)`);
    }
  }
  if (done.length) fsyncDir(parent);
  return done;
}

export function isDir(p: string): boolean {
  return statOrUndefined(p)?.isDirectory() ?? false;
}

export function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

export function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
