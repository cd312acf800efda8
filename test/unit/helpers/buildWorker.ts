// Bundles the real training worker (src/worker/main.ts; or another entry there, e.g. the lint
// process lintServer.ts) the way scripts/build.mjs does, into
// node_modules/.cache so that its external TensorFlow.js packages resolve from this repo.
import * as esbuild from 'esbuild';
import * as path from 'node:path';
import type { FromWorker, WorkerJob } from '../../../src/protocol/worker';
import { WorkerClient } from '../../../src/worker/client';

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

/**
 * Forks the bundled worker (`script`, from buildWorker) on a job and records every event it sends;
 * `onEvent` also sees each event with the worker (e.g. to cancel it at some point).
 */
export function startJob(script: string, job: WorkerJob, onEvent: (e: FromWorker, w: WorkerClient) => void = () => {}): { worker: WorkerClient; events: FromWorker[] } {
  const events: FromWorker[] = [];
  const holder: { worker?: WorkerClient } = {};
  const worker = new WorkerClient(script, job, (e) => {
    events.push(e);
    onEvent(e, holder.worker!);
  });
  holder.worker = worker;
  return { worker, events };
}
