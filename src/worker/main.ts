// The training worker: a child process forked by the extension host (or a test). It receives
// `start` and `cancel`, runs one session, and forwards every event over IPC. Tensor work, native
// aborts and GPU memory live and die here, never in the extension host.
import type { FromWorker, ToWorker } from '../protocol/training';
import { runSession } from '../core/session';

function send(m: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(m, undefined, undefined, () => resolve());
  });
}

if (!process.send) {
  console.error('lora-lab worker: start me with child_process.fork (no IPC channel)');
  process.exit(2);
}

const abort = new AbortController();
let started = false;

process.on('message', (raw: unknown) => {
  const m = raw as ToWorker;
  if (m?.type === 'cancel') {
    abort.abort();
    return;
  }
  if (m?.type === 'start') {
    if (started) return;
    started = true;
    void (async () => {
      let code = 0;
      for await (const ev of runSession(m.config, { signal: abort.signal, resumeRunDir: m.resumeRunDir })) {
        await send(ev);
        if (ev.type === 'finished' && ev.status === 'failed') code = 1;
      }
      await send({ type: 'exit', code });
      process.exit(code);
    })();
  }
});

// The parent went away: cancel (the session saves a checkpoint), then leave.
process.on('disconnect', () => {
  abort.abort();
  setTimeout(() => process.exit(0), 30_000).unref();
});

void send({ type: 'ready', pid: process.pid });
