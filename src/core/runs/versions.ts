// Versions recorded in every run.json, so a result can be traced to the code that made it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

let cached: Record<string, string> | undefined;

/** lora-lab's own version, found by walking up from this file (works from src/ and from the dist/ bundle). */
function ownVersion(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const p = path.join(dir, 'package.json');
    if (fs.existsSync(p)) {
      const pkg = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'lora-lab' && pkg.version) return pkg.version;
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}

export function versions(): Record<string, string> {
  cached ??= { 'lora-lab': ownVersion(), tfjs: tf.version.tfjs, node: process.versions.node };
  return cached;
}
