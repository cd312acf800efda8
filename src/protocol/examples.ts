// The panel's questions about a run's examples (issue 15) and the host's answers: the examples of
// one step of the training curve (StepExamples: the host reads that step's row of metrics.jsonl),
// and the run's hardest training examples, hardest validation examples and those whose loss went
// up (RunExamples: the host reads metrics.jsonl and eval-examples.jsonl with core/runs/provenance).
// Each example comes with the start of its row, read by the host from the file by line number
// (never the file itself). Pure: the webview bundle imports this.
import { decoder, fail, Fields, type Decoder } from './decode';
import { requestType } from './rpc';
import { runIdProblem } from './panel';

/** Characters of an example's row sent with it. */
export const EXAMPLE_TEXT_CHARS = 100;

/** One example as the panel lists it. */
export interface ExampleItem {
  /** The file it is a line of (the run's training file, or its validation file). */
  file: string;
  /** 1-based line in `file`. */
  line: number;
  /** Mean loss per loss token (null: no loss token). */
  loss: number | null;
  /** The step it was trained in, or evaluated at. */
  step: number;
  /** The first EXAMPLE_TEXT_CHARS characters of its row (absent: the line is not in the file any more). */
  text?: string;
}

/** A training example whose loss rose from its first epoch (firstLoss at firstStep) to its last (loss at step). */
export interface WentUpItem extends ExampleItem {
  firstLoss: number;
  firstStep: number;
}

export interface StepExamplesReply {
  runId: string;
  step: number;
  /** The step's training loss (absent when the row was not found). */
  loss?: number;
  /** The run's training file (run.json dataset.path): the file of every example. */
  file: string;
  /** The step's examples, highest loss first. */
  examples: ExampleItem[];
  /** Why there are no examples (the row is not written yet, the run predates provenance). */
  note?: string;
}

export interface RunExamplesReply {
  runId: string;
  trainFile: string;
  /** Training examples by their loss in the last epoch they were seen in, highest first (the first `limit`). */
  hardestTrain: ExampleItem[];
  /** Validation examples of the last evaluation (eval-examples.jsonl), highest loss first. */
  hardestValid: ExampleItem[];
  /** Training examples whose loss went up from the first epoch to the last, largest rise first. */
  wentUp: WentUpItem[];
  /** Epochs the training rows cover (the "went up" list needs two). */
  epochs: number;
  /** Why a list is empty (no provenance, no evaluation with per-example losses). */
  notes: string[];
}

// --- Decoders -----------------------------------------------------------------------------------

function runIdAt(f: Fields, k: string): string {
  const v = f.raw[k];
  const problem = runIdProblem(v);
  return problem === undefined && typeof v === 'string' ? v : fail(f.at(k), v, `a run id (${problem})`);
}

function lossAt(f: Fields, k: string): number | null {
  return f.raw[k] === null ? null : f.num(k);
}

function lineAt(f: Fields, k: string): number {
  const line = f.index(k);
  return line >= 1 ? line : fail(f.at(k), line, 'a line number ≥ 1');
}

function exampleItem(v: unknown, path: string): ExampleItem {
  const f = Fields.of(v, path);
  const item: ExampleItem = { file: f.str('file'), line: lineAt(f, 'line'), loss: lossAt(f, 'loss'), step: f.index('step') };
  const text = f.optStr('text');
  if (text !== undefined) item.text = text;
  return item;
}

function wentUpItem(v: unknown, path: string): WentUpItem {
  const f = Fields.of(v, path);
  return { ...exampleItem(v, path), firstLoss: f.num('firstLoss'), firstStep: f.index('firstStep') };
}

export const decodeStepExamplesReply: Decoder<StepExamplesReply> = decoder((v) => {
  const f = Fields.of(v, 'reply');
  const r: StepExamplesReply = { runId: runIdAt(f, 'runId'), step: f.index('step'), file: f.str('file'), examples: f.list('examples', exampleItem) };
  const loss = f.optNum('loss');
  if (loss !== undefined) r.loss = loss;
  const note = f.optStr('note');
  if (note !== undefined) r.note = note;
  return r;
});

export const decodeRunExamplesReply: Decoder<RunExamplesReply> = decoder((v) => {
  const f = Fields.of(v, 'reply');
  return {
    runId: runIdAt(f, 'runId'), trainFile: f.str('trainFile'), hardestTrain: f.list('hardestTrain', exampleItem), hardestValid: f.list('hardestValid', exampleItem),
    wentUp: f.list('wentUp', wentUpItem), epochs: f.index('epochs'), notes: f.strings('notes'),
  };
});

// --- Requests (src/protocol/rpc.ts) -------------------------------------------------------------

/** The examples of one step of a run (a point of the training curve), read from its metrics.jsonl row. */
export const StepExamples = requestType<{ runId: string; step: number }, StepExamplesReply>(
  'stepExamples',
  decoder((v) => {
    const f = Fields.of(v, 'params');
    return { runId: runIdAt(f, 'runId'), step: f.index('step') };
  }),
  decodeStepExamplesReply,
);

/** Most examples in each list of RunExamples. */
export const RUN_EXAMPLES_MAX = 50;

/** A run's hardest training and validation examples and those whose loss went up, `limit` (default 10, at most RUN_EXAMPLES_MAX) per list. */
export const RunExamples = requestType<{ runId: string; limit?: number }, RunExamplesReply>(
  'runExamples',
  decoder((v) => {
    const f = Fields.of(v, 'params');
    const runId = runIdAt(f, 'runId');
    if (!f.has('limit')) return { runId };
    const limit = f.index('limit');
    return limit >= 1 && limit <= RUN_EXAMPLES_MAX ? { runId, limit } : fail(f.at('limit'), limit, `a whole number from 1 to ${RUN_EXAMPLES_MAX}`);
  }),
  decodeRunExamplesReply,
);
