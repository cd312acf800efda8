// Bundles the real training worker (src/worker/main.ts; or another entry there, e.g. the lint
// process lintServer.ts) the way scripts/build.mjs does, into
// node_modules/.cache so that its external TensorFlow.js packages resolve from this repo.
import * as esbuild from 'esbuild';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');

export async function buildWorker(entry = 'main'): Promise<string> {
  const outfile = path.join(ROOT, 'node_modules', '.cache', 'lora-lab-test', `${entry === 'main' ? 'worker' : entry}.js`);
  await esbuild.build({
    entryPoints: [path.join(ROOT, 'src', 'worker', `${entry}.ts`)],
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
