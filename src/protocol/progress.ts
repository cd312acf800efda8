// One narrator for every surface that tells a run's progress: the status bar and the progress
// notification, the output channel, `lora-lab train`'s lines and the panel's status line. It folds
// the engine's events (SessionEvent, including the phase events of the slow parts that are not
// training steps) into a Progress: the phase, its progress n/N, and one ETA computed one way, so no
// two surfaces can disagree. Pure: no node:, no tfjs, no DOM; the webview bundle imports it.
import type { SessionEvent } from './worker';

/** What a run (or a standalone evaluate or merge job) is doing now. */
export type Phase =
  | 'starting'
  | 'checking-data'
  | 'loading-model'
  | 'preflight'
  | 'training'
  | 'saving'
  | 'merging'
  | 'evaluating'
  | 'generating'
  | 'finished';

/** The phases the engine announces with a `phase` event (training has its step events). */
export type AnnouncedPhase = Exclude<Phase, 'starting' | 'training' | 'finished'>;
export const ANNOUNCED_PHASES: readonly AnnouncedPhase[] = ['checking-data', 'loading-model', 'preflight', 'saving', 'merging', 'evaluating', 'generating'];

/**
 * The engine's progress outside training steps: a phase begins (`done` 0, or no count when its
 * work cannot be counted) or advances by one unit (a batch of the evaluation, a prompt).
 */
export interface PhaseEvent {
  type: 'phase';
  phase: AnnouncedPhase;
  /** Units done in this phase, and how many there are. Absent when the phase cannot count. */
  done?: number;
  total?: number;
  /** Milliseconds since the phase began (the engine's clock), for the ETA. */
  elapsedMs?: number;
  /** What the phase works on, e.g. the models scored: 'base, adapter, merged'. */
  detail?: string;
}

/** The narrator's state: everything a surface shows of the job in progress. */
export interface Progress {
  phase: Phase;
  /** Units of the current phase: optimizer steps while training, batches or prompts after. */
  done?: number;
  total?: number;
  /** Seconds left in the current phase, when they can be told. */
  etaSeconds?: number;
  /** The phase's detail (see PhaseEvent), or why the run is loading (resuming). */
  detail?: string;
  runId?: string;
  /** Training figures: the last step reported. */
  step: number;
  totalSteps?: number;
  epoch?: number;
  loss?: number;
  tokensPerSec?: number;
  lastValLoss?: number;
  bestValLoss?: number;
  /** The first step event seen (minus its own time): steps are timed over the whole session, not one noisy step. */
  firstStep?: { step: number; elapsedMs: number };
  outcome?: { status: string; message?: string };
}

export function startProgress(): Progress {
  return { phase: 'starting', step: 0 };
}

/**
 * The one ETA: the mean time per unit since the first one seen, times the units left; with only one
 * unit seen, that unit's own time. Undefined when nothing has been timed yet.
 */
export function etaSeconds(first: { done: number; elapsedMs: number } | undefined, done: number, elapsedMs: number, total: number, lastUnitMs?: number): number | undefined {
  const left = total - done;
  if (left <= 0) return 0;
  if (first && done > first.done && elapsedMs > first.elapsedMs) return (left * (elapsedMs - first.elapsedMs)) / (done - first.done) / 1000;
  return lastUnitMs !== undefined && Number.isFinite(lastUnitMs) ? (left * lastUnitMs) / 1000 : undefined;
}

/** Seconds → "45s", "3m12s", "1h02m"; "?" when unknown. */
export function formatSeconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s) || s < 0) return '?';
  const r = Math.round(s);
  const h = Math.floor(r / 3600);
  const m = Math.floor((r % 3600) / 60);
  const sec = r % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** The events the narrator reads: a session's, and the end of a standalone job (a `test` job's outcomes and report it passes by). */
export type NarratedEvent = SessionEvent | { type: 'merged'; out: string } | { type: 'caseOutcome' } | { type: 'cases' };

/** Folds one event into the progress. */
export function advance(p: Progress, e: NarratedEvent): Progress {
  // A new run's first event after a finished one starts afresh.
  const base = p.phase === 'finished' && e.type !== 'finished' ? startProgress() : p;
  switch (e.type) {
    case 'config':
      return { ...base, phase: 'checking-data', done: undefined, total: undefined, etaSeconds: undefined };
    case 'run':
      return { ...base, runId: e.runId, phase: 'loading-model', detail: e.resumedFromStep !== undefined ? `resuming after step ${e.resumedFromStep}` : undefined };
    case 'phase': {
      // elapsedMs counts from the phase's start: the mean time per unit so far, times the units left.
      const counted = e.done !== undefined && e.total !== undefined && e.elapsedMs !== undefined;
      const eta = counted ? etaSeconds({ done: 0, elapsedMs: 0 }, e.done!, e.elapsedMs!, e.total!) : undefined;
      return { ...base, phase: e.phase, done: e.done, total: e.total, detail: e.detail, etaSeconds: eta };
    }
    case 'preflight':
      // Pre-flight is done: training begins, timed by the warm-up until the first step.
      return { ...base, phase: 'training', done: 0, total: e.totalSteps, totalSteps: e.totalSteps, etaSeconds: e.etaSeconds, detail: undefined };
    case 'step': {
      const first = base.phase === 'training' && base.firstStep ? base.firstStep : { step: e.step - 1, elapsedMs: e.elapsedMs - e.stepMs };
      return {
        ...base, phase: 'training', done: e.step, total: e.totalSteps, detail: undefined, firstStep: first,
        step: e.step, totalSteps: e.totalSteps, epoch: e.epoch, loss: e.loss, tokensPerSec: e.tokensPerSec,
        etaSeconds: etaSeconds({ done: first.step, elapsedMs: first.elapsedMs }, e.step, e.elapsedMs, e.totalSteps, e.stepMs),
      };
    }
    case 'eval':
      return { ...base, lastValLoss: e.valLoss, bestValLoss: e.best || base.bestValLoss === undefined ? Math.min(e.valLoss, base.bestValLoss ?? Infinity) : base.bestValLoss };
    case 'done':
      return { ...base, phase: 'saving', done: undefined, total: undefined, etaSeconds: undefined, detail: undefined };
    case 'finished':
      return { ...base, phase: 'finished', done: undefined, total: undefined, etaSeconds: undefined, detail: undefined, outcome: { status: e.status, message: e.message } };
    default:
      return base;
  }
}

/** The units of a phase, as its progress reads ("step 12/30", "batch 3/10", "prompt 1/3"). */
const UNIT: Partial<Record<Phase, string>> = { training: 'step', evaluating: 'batch', generating: 'prompt' };

const HEAD: Record<Phase, string> = {
  starting: 'Starting',
  'checking-data': 'Checking the dataset',
  'loading-model': 'Loading the model',
  preflight: 'Pre-flight (memory, warm-up)',
  training: 'Training',
  saving: 'Saving the adapter',
  merging: 'Merging the adapter into the base',
  evaluating: 'Evaluating',
  generating: 'Generating',
  finished: 'Finished',
};

/** The phase in words, with its detail: "Evaluating base, adapter, merged", "Loading the model (resuming after step 20)". */
export function phaseText(p: Progress): string {
  if (p.phase === 'finished') {
    const s = p.outcome?.status ?? 'finished';
    const m = p.outcome?.message;
    // "cancelled while tokenizing …" already says its status: not "Cancelled (cancelled while …)".
    if (m && sayStatus(s, m)) return `${m.charAt(0).toUpperCase()}${m.slice(1)}`;
    return `${s.charAt(0).toUpperCase()}${s.slice(1)}${m ? ` (${m})` : ''}`;
  }
  if (!p.detail) return HEAD[p.phase];
  return p.phase === 'evaluating' ? `${HEAD.evaluating} ${p.detail}` : `${HEAD[p.phase]} (${p.detail})`;
}

/** Share of the current phase done, for a progress bar; undefined when it cannot count. */
export function phaseFraction(p: Progress): number | undefined {
  return p.done !== undefined && p.total ? Math.min(1, p.done / p.total) : undefined;
}

/** "step 12/30", "batch 3/10": the phase's count, or '' when it has none. */
export function countText(p: Progress): string {
  if (p.phase === 'finished' || p.done === undefined || p.total === undefined) return '';
  const unit = UNIT[p.phase];
  return `${unit ? `${unit} ` : ''}${p.done}/${p.total}`;
}

/** "ETA 7s", or '' when the phase's time left is unknown. */
export function etaText(p: Progress): string {
  return p.phase !== 'finished' && p.etaSeconds !== undefined ? `ETA ${formatSeconds(p.etaSeconds)}` : '';
}

/**
 * The one status line: phase, progress and ETA, and while training the loss and throughput.
 * "Training · step 12/30 · loss 2.345 · 1234 tok/s · ETA 7s", "Evaluating base, adapter, merged ·
 * batch 3/10 · ETA 12s", "Loading the model…". `short` leaves out the loss and throughput.
 */
export function statusText(p: Progress, opts: { short?: boolean } = {}): string {
  const head = phaseText(p);
  if (p.phase === 'finished') return head;
  const count = countText(p);
  if (!count) return `${head}…`;
  const training = p.phase === 'training' && !opts.short && p.loss !== undefined
    ? [`loss ${p.loss.toFixed(3)}`, ...(p.tokensPerSec !== undefined ? [`${Math.round(p.tokensPerSec)} tok/s`] : [])]
    : [];
  return [head, count, ...training, etaText(p)].filter((x) => x).join(' · ');
}

/** A count as `lora-lab` prints it: 1,234,567. Also the CLI's (src/cli/common.ts re-exports it). */
export function formatInt(n: number): string {
  return n.toLocaleString('en-US');
}

/** A size in binary units with one decimal: 512 B, 1.5 MiB. Also the CLI's. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

const int = formatInt;
const bytes = formatBytes;

/**
 * The log lines worth keeping for an event (output channel, the CLI's lines), labelled in a
 * 9-character column. Steps and phase progress are not logged here: they are the status line.
 */
export function eventLines(e: NarratedEvent): string[] {
  switch (e.type) {
    case 'data':
      return [
        `data     ${e.train.file}: ${e.train.format}, ${int(e.train.examples)} examples, ${int(e.train.tokens)} tokens (${int(e.train.lossTokens)} with loss)${e.train.truncated ? `, ${e.train.truncated} truncated` : ''}${e.train.skipped ? `, ${e.train.skipped} bad rows skipped` : ''}`,
        `valid    ${e.valid.file} (${e.validSource}): ${int(e.valid.examples)} examples, ${int(e.valid.lossTokens)} tokens with loss`,
      ];
    case 'backend':
      return [`backend  ${e.report.backend} on ${e.report.device === 'gpu' ? 'GPU' : 'CPU'}, ${e.report.threads} thread${e.report.threads === 1 ? '' : 's'}`];
    case 'run':
      return [`run      ${e.dir}${e.resumedFromStep !== undefined ? ` (resuming after step ${e.resumedFromStep})` : ''}`];
    case 'preflight':
      return [
        `lora     trainable ${int(e.counts.trainable)} of ${int(e.counts.total)} (${e.counts.percent.toFixed(4)}%), adapter ${bytes(e.counts.adapterBytes)}`,
        `memory   ~${bytes(e.memory.totalBytes)} (weights ${bytes(e.memory.weightsBytes)}, optimizer ${bytes(e.memory.optimizerBytes)}, activations ${bytes(e.memory.activationBytes)})${e.memory.limitBytes ? ` of ${bytes(e.memory.limitBytes)} allowed` : ''}; warm-up peak ${bytes(e.measuredPeakBytes ?? 0)}`,
        `plan     ${e.totalSteps} steps (${e.stepsPerEpoch}/epoch), ~${formatSeconds(e.secondsPerEpoch)} per epoch, ETA ${formatSeconds(e.etaSeconds)}`,
      ];
    case 'eval':
      return [`eval     step ${e.step}: val loss ${e.valLoss.toFixed(4)}, perplexity ${e.valPerplexity.toFixed(2)}${e.best ? '  (best)' : ''}`];
    case 'done':
      return [`training ${e.status} at step ${e.step}${e.bestValLoss !== null ? `, best val loss ${e.bestValLoss.toFixed(4)} (step ${e.bestStep})` : ''}`];
    case 'log':
      return [`${e.level === 'warn' ? 'warning' : 'info   '}  ${e.message}`];
    case 'adapter':
      return [`adapter  ${e.dir}`];
    case 'evaluation': {
      const r = e.report;
      const scores = (['base', 'adapter', 'merged'] as const).filter((k) => r[k]).map((k) => `${k} ${r[k]!.loss.toFixed(4)}`);
      return [`eval     ${e.path}: loss ${scores.join(', ')}${r.mergeCheck?.flagged ? '; merge FLAGGED' : ''}${r.effectCheck?.flagged ? '; no effect' : ''}`];
    }
    case 'merged':
      return [`merged   ${e.out}`];
    case 'finished':
      return [`${e.message && sayStatus(e.status, e.message) ? e.message : `${e.status.padEnd(8)} ${e.message ?? ''}`}${e.runDir ? `\n         run folder: ${e.runDir}` : ''}`];
    default:
      return [];
  }
}

/** The step line the CLI prints (and rewrites on a terminal): the status line plus lr and |g|. */
export function stepLine(p: Progress, e: Extract<SessionEvent, { type: 'step' }>): string {
  return `step ${e.step}/${e.totalSteps}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  |g| ${e.gradNorm.toFixed(3)}  ${e.tokensPerSec.toFixed(0)} tok/s  ETA ${formatSeconds(p.etaSeconds)}`;
}

/**
 * The narrator for a surface that keeps state (the host, the CLI): `tell(e)` folds the event in and
 * returns its log lines; `progress` and `status()` say where the job is.
 */
export class Narrator {
  progress: Progress = startProgress();

  tell(e: NarratedEvent): string[] {
    this.progress = advance(this.progress, e);
    return eventLines(e);
  }

  status(opts?: { short?: boolean }): string {
    return statusText(this.progress, opts);
  }
}

/** Whether a finished run's message opens with its own status word ("cancelled at step 12; …"). */
function sayStatus(status: string, message: string): boolean {
  return message.toLowerCase().startsWith(status.toLowerCase());
}
