// The panel's one notion of the run in progress ("the live run"): folds its SessionEvents into
// its id (from the `run` event, when its folder exists), step, loss, throughput, ETA and phase.
// Pure, so the reducer and its tests share it.
import { advance, etaSeconds as narratorEta, startProgress, type Progress } from '../src/protocol/progress';
import type { SessionEvent } from '../src/protocol/worker';
import { fmtInt, fmtLoss } from './format';

export type LivePhase = 'starting' | 'preparing' | 'training' | 'finishing' | 'finished';

export interface LiveRun {
  /** The run folder's id; absent until the host has created the folder (the `run` event). */
  runId?: string;
  phase: LivePhase;
  /** What the run is doing now, in words ("Loading the dataset…", "Warm-up done"). */
  detail: string;
  step: number;
  totalSteps?: number;
  epoch?: number;
  loss?: number;
  tokensPerSec?: number;
  etaSeconds?: number;
  elapsedMs?: number;
  /** The first step event seen, to time steps over the whole session (not one noisy step). */
  first?: { step: number; elapsedMs: number };
  lastValLoss?: number;
  bestValLoss?: number;
  outcome?: { status: string; message?: string };
  warnings: string[];
  /** The one narrator's state (phase, n/N, ETA): what the status bar and the output channel say too. */
  progress: Progress;
}

export function startingRun(): LiveRun {
  return { phase: 'starting', detail: 'Starting…', step: 0, warnings: [], progress: startProgress() };
}

/**
 * Seconds left: the mean step time since the first step this session saw, times the steps left;
 * before two steps, the last step's own time.
 */
export function etaSeconds(first: { step: number; elapsedMs: number } | undefined, step: number, elapsedMs: number, totalSteps: number, stepMs?: number): number | undefined {
  return narratorEta(first && { done: first.step, elapsedMs: first.elapsedMs }, step, elapsedMs, totalSteps, stepMs);
}

/** The live run after one more event; its phase, n/N and ETA come from the one narrator (src/protocol/progress.ts). */
export function applyLiveEvent(prev: LiveRun | undefined, ev: SessionEvent): LiveRun {
  const progress = advance(prev?.progress ?? startProgress(), ev);
  return { ...foldLiveEvent(prev, ev), progress, etaSeconds: progress.etaSeconds };
}

function foldLiveEvent(prev: LiveRun | undefined, ev: SessionEvent): LiveRun {
  // A new run's first event after a finished one starts a fresh status.
  const live = !prev || (prev.phase === 'finished' && ev.type !== 'finished') ? startingRun() : prev;
  switch (ev.type) {
    case 'config':
      return { ...live, phase: 'preparing', detail: 'Checking the dataset…' };
    case 'data':
      return { ...live, phase: 'preparing', detail: `Dataset: ${fmtInt(ev.train.examples)} training, ${fmtInt(ev.valid.examples)} validation examples` };
    case 'backend':
      return { ...live, phase: 'preparing', detail: `Backend ${ev.report.backend} (${ev.report.device}); loading the model…` };
    case 'run':
      return { ...live, runId: ev.runId, phase: 'preparing', detail: ev.resumedFromStep !== undefined ? `Resuming from step ${ev.resumedFromStep}…` : 'Loading the model…' };
    case 'preflight':
      return { ...live, phase: 'preparing', totalSteps: ev.totalSteps, etaSeconds: ev.etaSeconds, detail: `Warm-up done: ${fmtInt(ev.totalSteps)} steps` };
    case 'step': {
      const first = live.first ?? { step: ev.step - 1, elapsedMs: ev.elapsedMs - ev.stepMs };
      return {
        ...live, phase: 'training', detail: 'Training', first,
        step: ev.step, totalSteps: ev.totalSteps, epoch: ev.epoch, loss: ev.loss, tokensPerSec: ev.tokensPerSec, elapsedMs: ev.elapsedMs,
        etaSeconds: etaSeconds(first, ev.step, ev.elapsedMs, ev.totalSteps, ev.stepMs),
      };
    }
    case 'eval':
      return {
        ...live, lastValLoss: ev.valLoss,
        bestValLoss: ev.best || live.bestValLoss === undefined ? Math.min(ev.valLoss, live.bestValLoss ?? Infinity) : live.bestValLoss,
      };
    case 'checkpoint':
      return { ...live, detail: `Training (checkpoint "${ev.name}" saved at step ${fmtInt(ev.step)})` };
    case 'done':
      return { ...live, phase: 'finishing', etaSeconds: undefined, detail: `Training ${ev.status}${ev.bestValLoss !== null ? `, best validation loss ${fmtLoss(ev.bestValLoss)}` : ''}; saving…` };
    case 'adapter':
      return { ...live, phase: 'finishing', detail: 'Adapter saved; evaluating the base, adapter and merged model…' };
    case 'evaluation':
      return { ...live, detail: 'Evaluation written (see the Evaluation section)' };
    case 'finished':
      return { ...live, phase: 'finished', etaSeconds: undefined, outcome: { status: ev.status, message: ev.message }, detail: ev.message ?? ev.status };
    case 'log':
      return ev.level === 'warn' ? { ...live, warnings: [...live.warnings, ev.message].slice(-5) } : live;
    default:
      return live;
  }
}
