// LoRA Lab's own version (package.json "version"), for run.json's versions and the model cards.
import * as fs from 'node:fs';
import * as path from 'node:path';

let cached: string | undefined;

/** lora-lab's version, found by walking up from this file (works from src/ and from the dist/ bundle); 'unknown' when not found. */
export function loraLabVersion(): string {
  if (cached !== undefined) return cached;
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const p = path.join(dir, 'package.json');
    if (fs.existsSync(p)) {
      const pkg = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'lora-lab' && pkg.version) return (cached = pkg.version);
    }
    dir = path.dirname(dir);
  }
  return (cached = 'unknown');
}
