// Dev harness only (not shipped): stands in for the extension host. Defines acquireVsCodeApi,
// answers the panel's commands and requests (LoadRuns, EvaluateRun) with sample data, simulates a
// live run, and exposes window.__host for the screenshot script (send messages, read what the
// panel posted).
import { decodePanelCommand, EvaluateRun, LoadRuns, type PanelCommand, type RunDetail, type ToPanel } from '../../src/protocol/panel';
import { Rpc } from '../../src/protocol/rpc';
import { RunExamples, StepExamples, type ExampleItem } from '../../src/protocol/examples';
import type { SessionEvent } from '../../src/protocol/worker';
import { detailOf, gpt2Form, sampleRuns } from './sampleData';

const posted: unknown[] = [];
let saved: unknown = JSON.parse(sessionStorage.getItem('fakeVsCodeState') ?? 'null');
let live: { timer: number; runId: string; step: number } | undefined;

function send(m: ToPanel): void {
  window.postMessage(m, '*');
}

const rpc = new Rpc((m) => send(m), (p) => console.warn(`fake host: ${p}`));
const sampleDetail = (id: string): RunDetail => {
  const r = sampleRuns.find((x) => x.summary.id === id);
  if (!r) throw new Error(`no sample run ${id}`);
  return detailOf(r);
};
rpc.handle(LoadRuns, ({ runIds }) => runIds.map(sampleDetail));
rpc.handle(EvaluateRun, ({ runId }) => sampleDetail(runId));
// The example lists (issue 15): made-up lines and losses of the run's dataset.
const fakeExamples = (file: string, step: number, n: number): ExampleItem[] =>
  Array.from({ length: n }, (_, i) => ({ file, line: 1 + ((step * 7 + i * 13) % 400), loss: Number((3 - i * 0.3).toFixed(4)), step, text: `{"prompt": "row ${i} of step ${step}", "completion": "…"}` }));
rpc.handle(StepExamples, ({ runId, step }) => {
  const file = sampleDetail(runId).summary.dataset;
  return { runId, step, loss: 2.1, file, examples: fakeExamples(file, step, 4) };
});
rpc.handle(RunExamples, ({ runId }) => {
  const file = sampleDetail(runId).summary.dataset;
  return {
    runId, trainFile: file, epochs: 2, notes: [], hardestTrain: fakeExamples(file, 900, 5), hardestValid: fakeExamples('/home/me/project/data/valid.jsonl', 1000, 3),
    wentUp: fakeExamples(file, 950, 2).map((e) => ({ ...e, firstLoss: 1.2, firstStep: 300 })),
  };
});

function runsMessage(activeRunId?: string): ToPanel {
  return { type: 'runs', runs: sampleRuns.map((r) => r.summary), activeRunId };
}

/** A live run: ~20 steps a second with an evaluation every 100 steps, until maxSteps or Cancel. */
function startLive(maxSteps: number, stepsPerSecond = 20): void {
  const runId = '20250306-150000-shakespeare';
  const ev = (event: Exclude<SessionEvent, { type: 'run' }>) => send({ type: 'runEvent', event });
  ev({ type: 'config', config: {} as never });
  const dir = `/home/me/project/.lora-lab/runs/${runId}`;
  // As the host does: the run as on disk when its folder exists (nothing logged yet).
  const summary = { id: runId, dir, name: 'shakespeare', status: 'running' as const, createdAt: new Date().toISOString(), model: gpt2Form.model, dataset: gpt2Form.dataset };
  const record = { ...summary, config: {}, model: { path: gpt2Form.model, fingerprint: 'x' }, dataset: { path: gpt2Form.dataset, sha256: 'y' } };
  send({ type: 'runStarted', event: { type: 'run', runId, dir }, detail: { summary, record, metrics: [] } });
  ev({ type: 'log', level: 'warn', message: 'tokenizer has no pad token: using eos (50256) for padding' });
  ev({ type: 'preflight', counts: { trainable: 294912, total: 124734720, base: 124439808, percent: 0.2364, adaptedModules: 12, adapterBytes: 1179648 }, memory: {} as never, warmupMs: 320, stepsPerEpoch: 600, totalSteps: maxSteps, secondsPerEpoch: 200, etaSeconds: maxSteps * 0.33 });
  let step = 0;
  const timer = window.setInterval(() => {
    step++;
    const loss = 1.5 + 1.9 * Math.exp(-step / 300) + 0.15 * Math.sin(step * 1.7);
    ev({ type: 'step', step, totalSteps: maxSteps, epoch: step / 600, loss, lr: 2e-4, gradNorm: 0.8, tokens: 2048, tokensPerSec: 6100 + 100 * Math.sin(step), stepMs: 1000 / stepsPerSecond, elapsedMs: (step * 1000) / stepsPerSecond });
    if (step % 100 === 0) ev({ type: 'eval', step, valLoss: 1.6 + 1.8 * Math.exp(-step / 340), valPerplexity: 5, valTokens: 20000, best: true });
    if (step >= maxSteps) finishLive('completed');
  }, 1000 / stepsPerSecond);
  live = { timer, runId, step: 0 };
}

function finishLive(status: 'completed' | 'cancelled'): void {
  if (!live) return;
  window.clearInterval(live.timer);
  send({ type: 'runEvent', event: { type: 'finished', status, runDir: '/x' } });
  live = undefined;
}

function onPanelMessage(raw: unknown): void {
  posted.push(raw);
  if (rpc.receive(raw)) return;
  const d = decodePanelCommand(raw);
  if (!d.ok) {
    console.warn(`fake host: message refused: ${d.error}`);
    return;
  }
  onCommand(d.value);
}

function onCommand(m: PanelCommand): void {
  switch (m.type) {
    case 'ready':
      send({ type: 'showForm', form: gpt2Form });
      send(runsMessage());
      break;
    case 'startTraining':
      startLive(m.config.training?.maxSteps ?? 400);
      break;
    case 'cancelTraining':
      finishLive('cancelled');
      break;
    default:
      break;
  }
}

declare global {
  interface Window {
    acquireVsCodeApi: () => { postMessage(m: unknown): void; getState(): unknown; setState(s: unknown): void };
    __host: {
      send: (m: ToPanel) => void;
      /** What the panel posted (commands and requests: FromPanel). */
      posted: unknown[];
      state: () => unknown;
      startLive: (steps: number, perSecond?: number) => void;
      finishLive: (status: 'completed' | 'cancelled') => void;
      detail: (id: string) => RunDetail | undefined;
      cspViolations: string[];
    };
  }
}

window.acquireVsCodeApi = () => ({
  postMessage: (m: unknown) => setTimeout(() => onPanelMessage(m), 0),
  getState: () => saved,
  setState: (s: unknown) => {
    saved = s;
    sessionStorage.setItem('fakeVsCodeState', JSON.stringify(s));
  },
});

const cspViolations: string[] = [];
document.addEventListener('securitypolicyviolation', (e) => cspViolations.push(`${e.violatedDirective}: ${e.blockedURI}`));

window.__host = {
  send, posted, state: () => saved, startLive, finishLive, cspViolations,
  detail: (id) => {
    const r = sampleRuns.find((x) => x.summary.id === id);
    return r ? detailOf(r) : undefined;
  },
};
