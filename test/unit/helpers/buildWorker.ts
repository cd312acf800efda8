// Bundles the real training worker (src/worker/main.ts) the way scripts/build.mjs does, into
// node_modules/.cache so that its external TensorFlow.js packages resolve from this repo.
import * as esbuild from 'esbuild';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');

export async function buildWorker(): Promise<string> {
  const outfile = path.join(ROOT, 'node_modules', '.cache', 'lora-lab-test', 'worker.js');
  await esbuild.build({
    entryPoints: [path.join(ROOT, 'src', 'worker', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['@tensorflow/*'],
    logLevel: 'silent',
  });
  return outfile;
}
