// `lora-lab train`: one training run in this process with a live progress line, or `--json`
// event lines for scripts. Ctrl-C cancels after the current step (a checkpoint is saved);
// a second Ctrl-C exits at once.
import * as fs from 'node:fs';
import type { RunConfigInput } from '../core/runConfig';
import type { ScheduleKind } from '../core/train/schedule';
import { runSession, type SessionEvent } from '../core/session';
import { backendSummary, nativeHint } from '../core/backend';
import { formatEvalReport } from './eval';
import { BACKEND_CHOICES, CliUsageError, type CliCommand, type CliValues, formatBytes, formatInt, optionalChoice, optionalInt, optionalList, optionalNumber } from './common';

function readConfigFile(file: string): RunConfigInput {
  if (!fs.existsSync(file)) throw new CliUsageError(`--config ${file}: file not found`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as RunConfigInput;
  } catch (e) {
    throw new CliUsageError(`--config ${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** Flags over --config over defaults. */
export function configFromFlags(values: CliValues): RunConfigInput {
  const file = typeof values.config === 'string' ? readConfigFile(values.config) : {};
  const targets = optionalList(values, 'targets');
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  return {
    ...file,
    model: str('model') ?? file.model,
    data: str('data') ?? file.data,
    valid: str('valid') ?? file.valid,
    initAdapter: str('adapter') ?? file.initAdapter,
    workspace: str('workspace') ?? file.workspace,
    runsDir: str('runs-dir') ?? file.runsDir,
    name: str('name') ?? file.name,
    backend: optionalChoice(values, 'backend', BACKEND_CHOICES) ?? file.backend,
    threads: optionalInt(values, 'threads', 1) ?? file.threads,
    memoryLimitBytes: ((mb) => (mb === undefined ? undefined : mb * 1024 * 1024))(optionalInt(values, 'memory-limit-mb', 1)) ?? file.memoryLimitBytes,
    lora: {
      ...file.lora,
      r: optionalInt(values, 'rank', 1) ?? file.lora?.r,
      alpha: optionalNumber(values, 'alpha') ?? file.lora?.alpha,
      dropout: optionalNumber(values, 'dropout') ?? file.lora?.dropout,
      targets: targets ? (targets.length === 1 && targets[0] === 'all-linear' ? 'all-linear' : targets) : file.lora?.targets,
      useRslora: values.rslora === true ? true : file.lora?.useRslora,
    },
    training: {
      ...file.training,
      lr: optionalNumber(values, 'lr') ?? file.training?.lr,
      schedule: optionalChoice<ScheduleKind>(values, 'schedule', ['constant', 'linear', 'cosine']) ?? file.training?.schedule,
      warmupSteps: optionalInt(values, 'warmup-steps', 0) ?? file.training?.warmupSteps,
      epochs: optionalInt(values, 'epochs', 1) ?? file.training?.epochs,
      maxSteps: optionalInt(values, 'max-steps', 1) ?? file.training?.maxSteps,
      batchSize: optionalInt(values, 'batch', 1) ?? file.training?.batchSize,
      gradAccum: optionalInt(values, 'grad-accum', 1) ?? file.training?.gradAccum,
      maxSeqLen: optionalInt(values, 'max-seq-len', 2) ?? file.training?.maxSeqLen,
      maxGradNorm: optionalNumber(values, 'max-grad-norm') ?? file.training?.maxGradNorm,
      weightDecay: optionalNumber(values, 'weight-decay') ?? file.training?.weightDecay,
      seed: optionalInt(values, 'seed', 0) ?? file.training?.seed,
      evalEvery: optionalInt(values, 'eval-every', 1) ?? file.training?.evalEvery,
      checkpointEvery: optionalInt(values, 'save-every', 1) ?? file.training?.checkpointEvery,
      patience: optionalInt(values, 'patience', 0) ?? file.training?.patience,
      groupByLength: values['group-by-length'] === true ? true : file.training?.groupByLength,
    },
    dataOptions: {
      ...file.dataOptions,
      policy: optionalChoice(values, 'on-bad-rows', ['skip', 'fail'] as const) ?? file.dataOptions?.policy,
      validFraction: optionalNumber(values, 'valid-fraction') ?? file.dataOptions?.validFraction,
    },
  };
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.round(s % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** Human output: one line per event worth seeing; the step line rewrites itself on a terminal. */
function printHuman(e: SessionEvent, tty: boolean): void {
  const out = process.stdout;
  const line = (s: string) => out.write(`${tty ? '\r\x1b[K' : ''}${s}\n`);
  switch (e.type) {
    case 'data':
      line(`data     ${e.train.file}: ${e.train.format}, ${formatInt(e.train.examples)} examples, ${formatInt(e.train.tokens)} tokens (${formatInt(e.train.lossTokens)} with loss)${e.train.truncated ? `, ${e.train.truncated} truncated` : ''}${e.train.skipped ? `, ${e.train.skipped} bad rows skipped` : ''}`);
      line(`valid    ${e.valid.file} (${e.validSource}): ${formatInt(e.valid.examples)} examples, ${formatInt(e.valid.lossTokens)} tokens with loss`);
      break;
    case 'backend':
      line(`backend  ${backendSummary(e.report)}`);
      for (const n of e.report.notes) line(`         note: ${n}`);
      if (nativeHint(e.report)) line(`         hint: ${nativeHint(e.report)}`);
      break;
    case 'run':
      line(`run      ${e.dir}${e.resumedFromStep !== undefined ? ` (resuming after step ${e.resumedFromStep})` : ''}`);
      break;
    case 'preflight':
      line(`lora     trainable ${formatInt(e.counts.trainable)} of ${formatInt(e.counts.total)} (${e.counts.percent.toFixed(4)}%), adapter ${formatBytes(e.counts.adapterBytes)}`);
      line(`memory   ~${formatBytes(e.memory.totalBytes)} (weights ${formatBytes(e.memory.weightsBytes)}, optimizer ${formatBytes(e.memory.optimizerBytes)}, activations ${formatBytes(e.memory.activationBytes)})${e.memory.limitBytes ? ` of ${formatBytes(e.memory.limitBytes)} allowed` : ''}; warm-up peak ${formatBytes(e.measuredPeakBytes ?? 0)}`);
      line(`plan     ${e.totalSteps} steps (${e.stepsPerEpoch}/epoch), ~${fmtDuration(e.secondsPerEpoch)} per epoch, ETA ${fmtDuration(e.etaSeconds)}`);
      break;
    case 'step': {
      const eta = ((e.totalSteps - e.step) * e.stepMs) / 1000;
      const s = `step ${e.step}/${e.totalSteps}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  |g| ${e.gradNorm.toFixed(3)}  ${e.tokensPerSec.toFixed(0)} tok/s  ETA ${fmtDuration(eta)}`;
      if (tty) out.write(`\r\x1b[K${s}`);
      else line(s);
      break;
    }
    case 'eval':
      line(`eval     step ${e.step}: val loss ${e.valLoss.toFixed(4)}, perplexity ${e.valPerplexity.toFixed(2)}${e.best ? '  (best)' : ''}`);
      break;
    case 'log':
      line(`${e.level === 'warn' ? 'warning' : 'info   '}  ${e.message}`);
      break;
    case 'adapter':
      line(`adapter  ${e.dir}`);
      break;
    case 'evaluation':
      line(`eval     ${e.path}`);
      for (const l of formatEvalReport(e.report)) line(`         ${l}`);
      break;
    case 'finished':
      line(`${e.status.padEnd(8)} ${e.message ?? ''}${e.runDir ? `\n         run folder: ${e.runDir}` : ''}`);
      break;
    default:
      break;
  }
}

export const trainCommand: CliCommand = {
  summary: 'Train a LoRA adapter on a dataset file; the run is kept under .lora-lab/runs/',
  synopsis: '--model <dir> --data <file> [--valid <file>] [--rank 8 --alpha 16 --targets ...] [--lr --epochs|--max-steps --batch --grad-accum --max-seq-len --seed --backend ...] [--config run.json] [--resume <run dir>] [--json]',
  options: {
    model: { type: 'string', valueName: 'dir', description: 'Hugging Face model folder' },
    data: { type: 'string', valueName: 'file', description: 'Training data: .jsonl, .json, .csv, .tsv or .txt' },
    valid: { type: 'string', valueName: 'file', description: 'Validation data (default: a sibling valid.jsonl/val.jsonl, else a split)' },
    config: { type: 'string', valueName: 'file', description: 'Run configuration JSON (flags override it)' },
    adapter: { type: 'string', valueName: 'dir', description: 'Continue training this PEFT adapter folder (e.g. one made by PEFT, or a run\'s adapter/)' },
    resume: { type: 'string', valueName: 'run dir', description: 'Continue an interrupted or cancelled run from its last checkpoint' },
    rank: { type: 'string', valueName: 'r', description: 'LoRA rank', default: '8' },
    alpha: { type: 'string', valueName: 'a', description: 'lora_alpha', default: '16' },
    dropout: { type: 'string', valueName: 'p', description: 'lora_dropout', default: '0.05' },
    targets: { type: 'string', valueName: 'names', description: "Target modules, comma-separated, or all-linear (default: PEFT's)" },
    rslora: { type: 'boolean', description: 'Scale by alpha/√r (rsLoRA)' },
    lr: { type: 'string', valueName: 'rate', description: 'Peak learning rate', default: '2e-4' },
    schedule: { type: 'string', valueName: 'kind', description: 'constant, linear or cosine', default: 'cosine' },
    'warmup-steps': { type: 'string', valueName: 'n', description: 'Warmup steps (default: 5% of the steps)' },
    epochs: { type: 'string', valueName: 'n', description: 'Epochs', default: '3' },
    'max-steps': { type: 'string', valueName: 'n', description: 'Stop after this many optimizer steps (overrides --epochs)' },
    batch: { type: 'string', valueName: 'n', description: 'Micro-batch size', default: '4' },
    'grad-accum': { type: 'string', valueName: 'n', description: 'Micro-batches per optimizer step', default: '1' },
    'max-seq-len': { type: 'string', valueName: 'n', description: 'Tokens per example (longer ones are truncated)', default: '256' },
    'max-grad-norm': { type: 'string', valueName: 'x', description: 'Global gradient-norm clip (0: off)', default: '1.0' },
    'weight-decay': { type: 'string', valueName: 'x', description: 'AdamW weight decay', default: '0' },
    seed: { type: 'string', valueName: 'n', description: 'Seed for init, data order and dropout', default: '42' },
    'eval-every': { type: 'string', valueName: 'steps', description: 'Evaluate every N steps (default: ~10 per run)' },
    'save-every': { type: 'string', valueName: 'steps', description: 'Checkpoint every N steps (default: with each evaluation)' },
    patience: { type: 'string', valueName: 'evals', description: 'Early stopping after N evaluations without improvement (0: off)', default: '0' },
    'group-by-length': { type: 'boolean', description: 'Batch examples of similar length together (shuffled in groups of up to 50 batches): less padding, faster epochs' },
    'on-bad-rows': { type: 'string', valueName: 'policy', description: 'skip or fail', default: 'fail' },
    'valid-fraction': { type: 'string', valueName: 'x', description: 'Share held out when there is no validation file', default: '0.1' },
    backend: { type: 'string', valueName: 'name', description: 'auto, tensorflow-gpu, tensorflow, wasm or cpu', default: 'auto' },
    threads: { type: 'string', valueName: 'n', description: 'CPU threads of the backend: wasm, or native TensorFlow (TF_NUM_INTRAOP_THREADS); default: one per core' },
    'memory-limit-mb': { type: 'string', valueName: 'MiB', description: "Stop before tensors pass this size (default: the backend's safe limit; wasm 2.5 GB)" },
    workspace: { type: 'string', valueName: 'dir', description: 'Folder whose .lora-lab/runs keeps the run', default: '.' },
    'runs-dir': { type: 'string', valueName: 'dir', description: 'Runs folder, relative to the workspace', default: '.lora-lab/runs' },
    name: { type: 'string', valueName: 'text', description: 'A name for the run' },
    json: { type: 'boolean', description: 'Print events as JSON lines' },
  },
  async run(values) {
    const resume = typeof values.resume === 'string' ? values.resume : undefined;
    const input = resume ? ({} as RunConfigInput) : configFromFlags(values);
    if (!resume && !input.model) throw new CliUsageError('--model is required (a Hugging Face model folder)');
    if (!resume && !input.data) throw new CliUsageError('--data is required (a .jsonl, .json, .csv, .tsv or .txt file)');
    const abort = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      interrupts++;
      if (interrupts > 1) process.exit(130);
      process.stderr.write('\nCancelling after the current step (a checkpoint is saved); press Ctrl-C again to quit now.\n');
      abort.abort();
    };
    process.on('SIGINT', onSigint);
    const tty = !values.json && process.stdout.isTTY === true;
    let status = 'failed';
    let finished = false;
    // A native abort inside the backend (wasm out of memory with threads) can end the process
    // without an exception; say so instead of exiting silently with code 0.
    const onExit = () => {
      if (finished) return;
      process.stderr.write(
        '\nlora-lab train: the process ended before the run finished (a native abort in the TensorFlow.js backend, usually out of wasm memory). ' +
          'Lower --batch or --max-seq-len, or use --backend tensorflow. The run folder keeps its metrics and last checkpoint; it shows as interrupted and can be resumed with --resume.\n',
      );
      process.exitCode = 1;
    };
    process.on('exit', onExit);
    try {
      for await (const e of runSession(input, { signal: abort.signal, resumeRunDir: resume })) {
        if (values.json) process.stdout.write(JSON.stringify(e) + '\n');
        else printHuman(e, tty);
        if (e.type === 'finished') status = e.status;
      }
    } finally {
      finished = true;
      process.off('SIGINT', onSigint);
      process.off('exit', onExit);
    }
    return status === 'completed' ? 0 : status === 'cancelled' ? 130 : 1;
  },
};
