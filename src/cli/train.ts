// `lora-lab train`: one training run in this process with a live progress line, or `--json`
// event lines for scripts. Ctrl-C cancels whatever the session is doing (reading or tokenizing
// the data, loading the model, pre-flight: within a second; training: after the current step, a
// checkpoint saved) and exits 130 saying what was left; a second Ctrl-C exits 130 at once.
import * as fs from 'node:fs';
import { RunDir } from '../core/runs';
import { RUN_FIELDS, type RunConfigInput, setField, upgradeRunConfigKeys } from '../protocol/runConfig';
import { runSession } from '../core/session';
import { TerminalNarrator } from './narrate';
import { CliUsageError, type CliCommand, type CliValues, fieldFlagValue, fieldOptions } from './common';

function readConfigFile(file: string): RunConfigInput {
  if (!fs.existsSync(file)) throw new CliUsageError(`--config ${file}: file not found`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as RunConfigInput;
  } catch (e) {
    throw new CliUsageError(`--config ${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** Flags over --config over defaults; a --config written by an older version has its keys renamed. */
export function configFromFlags(values: CliValues): RunConfigInput {
  const file = typeof values.config === 'string' ? upgradeRunConfigKeys(readConfigFile(values.config)) : {};
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const input: RunConfigInput = {
    ...file,
    model: str('model') ?? file.model,
    data: str('data') ?? file.data,
    valid: str('valid') ?? file.valid,
    evals: str('evals') ?? file.evals,
    initAdapter: str('adapter') ?? file.initAdapter,
    workspace: str('workspace') ?? file.workspace,
    runsDir: str('runs-dir') ?? file.runsDir,
    name: str('name') ?? file.name,
    lora: { ...file.lora },
    training: { ...file.training },
    dataOptions: { ...file.dataOptions },
  };
  for (const f of RUN_FIELDS) {
    const v = fieldFlagValue(values, f);
    if (v !== undefined) setField(input, f, v);
  }
  return input;
}

/**
 * A second Ctrl-C: the run folder (if any) is marked cancelled as it stands (this process holds
 * its lock; the lock file goes with the process), and the line says what is on disk.
 */
function quitNow(runDir: string | undefined, checkpointStep: number | undefined): string {
  if (!runDir) return 'quit at once; nothing was written';
  try {
    const run = RunDir.open(runDir);
    run.log('quit at once (a second Ctrl-C)');
    run.finish('cancelled');
  } catch {
    // run.json unreadable or the disk full: it shows as interrupted instead.
  }
  return checkpointStep
    ? `quit at once; ${runDir} keeps its last checkpoint (step ${checkpointStep}): resume with lora-lab train --resume ${runDir}`
    : `quit at once; ${runDir} is marked cancelled (no checkpoint yet)`;
}

export const trainCommand: CliCommand = {
  summary: 'Train a LoRA adapter on a dataset file; the run is kept under .lora-lab/runs/',
  synopsis: '--model <dir> --data <file> [--valid <file>] [--evals <cases.evals.jsonl>] [--rank 8 --alpha 16 --targets ...] [--lr --epochs|--max-steps --batch --grad-accum --max-seq-len --seed --backend ...] [--config run.json] [--resume <run dir>] [--json]',
  options: {
    model: { type: 'string', valueName: 'dir', description: 'Hugging Face model folder' },
    data: { type: 'string', valueName: 'file', description: 'Training data: .jsonl, .json, .csv, .tsv or .txt' },
    valid: { type: 'string', valueName: 'file', description: 'Validation data (default: a sibling valid.jsonl/val.jsonl, else a split)' },
    evals: { type: 'string', valueName: 'file', description: 'Evaluation cases (*.evals.jsonl) also run at the end on base, adapter and merged; report in <run>/evals/' },
    config: { type: 'string', valueName: 'file', description: 'Run configuration JSON (flags override it)' },
    adapter: { type: 'string', valueName: 'dir', description: 'Continue training this PEFT adapter folder (e.g. one made by PEFT, or a run\'s adapter/)' },
    resume: { type: 'string', valueName: 'run dir', description: 'Continue an interrupted or cancelled run from its last checkpoint' },
    ...fieldOptions(),
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
    // What the session has reached, from its events: the run folder, training, the last checkpoint on disk.
    let runDir: string | undefined;
    let training = false;
    let checkpointStep: number | undefined;
    let finished = false;
    let interrupts = 0;
    const onSigint = () => {
      interrupts++;
      if (interrupts > 1) {
        finished = true; // not the native-abort text of onExit: this exit is the user's
        process.stderr.write(`\nlora-lab train: ${quitNow(runDir, checkpointStep)}\n`);
        process.exit(130);
      }
      process.stderr.write(
        training
          ? '\nCancelling after the current step (a checkpoint is saved); press Ctrl-C again to quit now.\n'
          : '\nCancelling; press Ctrl-C again to quit now.\n',
      );
      abort.abort();
    };
    process.on('SIGINT', onSigint);
    const tty = !values.json && process.stdout.isTTY === true;
    const narrator = new TerminalNarrator(process.stdout, tty);
    let status = 'failed';
    let errorKind: string | undefined;
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
      for await (let e of runSession(input, { signal: abort.signal, resumeRunDir: resume })) {
        if (e.type === 'run') {
          runDir = e.dir;
          checkpointStep = e.resumedFromStep;
        }
        if (e.type === 'preflight') training = true;
        if (e.type === 'checkpoint' && e.name === 'last') checkpointStep = e.step;
        // A resumed run cancelled before it was reopened keeps the checkpoint it had.
        if (e.type === 'finished' && e.status === 'cancelled' && e.runDir && (checkpointStep || (resume && !runDir))) {
          e = { ...e, message: `${e.message ?? 'cancelled'}: resume with lora-lab train --resume ${e.runDir}` };
        }
        if (values.json) process.stdout.write(JSON.stringify(e) + '\n');
        else narrator.print(e);
        if (e.type === 'finished') ({ status, errorKind } = e);
      }
    } finally {
      finished = true;
      process.off('SIGINT', onSigint);
      process.off('exit', onExit);
    }
    // A config refused before training (an unknown target, r above min(in, out)) is bad usage, as a bad flag is.
    if (status === 'failed' && (errorKind === 'loraconfig' || errorKind === 'runconfig')) return 2;
    return status === 'completed' ? 0 : status === 'cancelled' ? 130 : 1;
  },
};
