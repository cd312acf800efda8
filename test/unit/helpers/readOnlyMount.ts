// Empty read-only tmpfs mounts for tests of writes the disk refuses (EROFS), where this process may
// mount one (root on Linux); each is unmounted by unmountReadOnly() (call it in afterAll).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const mounted: string[] = [];

/** A new empty read-only tmpfs under `parent`, or undefined where this process may not mount one. */
export function readOnlyMount(parent: string): string | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  const dir = fs.mkdtempSync(path.join(parent, 'ro-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  mounted.push(dir);
  return dir;
}

/** Unmounts every mount readOnlyMount made in this test file's process. */
export function unmountReadOnly(): void {
  for (const m of mounted.splice(0)) execFileSync('umount', [m]);
}
