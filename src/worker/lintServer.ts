// The lint process: forked once by the extension (src/host/lintClient.ts) and kept, so that linting
// a dataset on save and rendering a row for the hover never run in the extension host. Lints run
// one at a time, in order; a `cancel` aborts the request it names (the lint checks its signal every
// few thousand rows). Loads no TensorFlow: only the data pipeline and the tokenizer.
import { lintDataset } from '../core/lint/lint';
import { lintOptions } from '../core/lint/context';
import { viewRow } from '../core/lint/rowView';
import type { LintRequest, LintResponse } from '../protocol/lint';

const controllers = new Map<number, AbortController>();
let queue: Promise<void> = Promise.resolve();

function send(m: LintResponse): void {
  process.send?.(m);
}

async function handle(req: Exclude<LintRequest, { type: 'cancel' }>, signal: AbortSignal): Promise<void> {
  try {
    if (signal.aborted) return;
    const opts = lintOptions(req.settings, signal);
    if (req.type === 'lint') send({ type: 'lint', id: req.id, report: await lintDataset(req.file, { ...opts, validFile: req.validFile }) });
    else send({ type: 'row', id: req.id, view: await viewRow(req.file, req.line, { ...opts, text: req.text }) });
  } catch (e) {
    if (!signal.aborted) send({ type: 'error', id: req.id, message: (e as Error).message });
  } finally {
    controllers.delete(req.id);
  }
}

process.on('message', (m: LintRequest) => {
  if (typeof m !== 'object' || m === null || typeof m.id !== 'number') return;
  if (m.type === 'cancel') {
    controllers.get(m.id)?.abort();
    return;
  }
  if (m.type !== 'lint' && m.type !== 'row') return;
  const controller = new AbortController();
  controllers.set(m.id, controller);
  // Lints run one after another; a row for the hover goes at once (it reads one row), between the
  // lint's chunks, so a hover never waits for a long lint.
  if (m.type === 'row') void handle(m, controller.signal);
  else queue = queue.then(() => handle(m, controller.signal));
});

// The extension went away: so does this process.
process.on('disconnect', () => process.exit(0));
