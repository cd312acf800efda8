// One training run end to end, as an async generator of events: check the config against the
// model's config.json and safetensors headers (tensors, shapes, dtypes; LoRA targets, layers, rank), validate the dataset, tokenize, warn about
// settings that cannot be meant, pick the backend, estimate memory from the shapes, and only then
// create (or lock and reopen) the run folder, load the model and adapter, pre-flight, train, write
// the PEFT adapter, evaluate it, and record the outcome. Nothing is allocated and no run folder
// exists before every check passed; the run's lock is held from the folder's first write to the
// end. The parts that are not training steps say when they start (and the evaluation how far
// it is) with `phase` events, so every surface can tell the phase and its ETA (protocol/progress.ts).
// Used by the worker and by `lora-lab train`; nothing here knows about VS Code or the terminal.
import * as path from 'node:path';
import { initBackend, checkMemory, memoryFits, MemoryLimitError, type BackendReport } from './backend';
import { readCheckpoint, writeCheckpoint, type TrainerCheckpoint } from './train/checkpoint';
import { CancelledError, checkDatasetFile, makeBatch, padIdFor, prepareData, yieldToEventLoop, type DatasetReport } from './data';
import { evaluateRun } from './eval/evaluate';
import { describeTally } from './eval/cases/run';
import { runCaseFileOnRun } from './runCases';
import type { CausalLM } from './models/causalLm';
import { fingerprintModel, sha256File } from './hf/fingerprint';
import { readConfig } from './hf/config';
import { countParameters, initLoraWeightsOf, LoraConfigError, rankProblem, resolveLoraConfig, type LoraConfig } from './lora/config';
import type { ModelSpec } from './hf/config';
import { loadModel } from './models/load';
import { checkModelWeights } from './models/weightLayout';
import { checkPeftAdapter, loadPeftAdapter, writePeftAdapter } from './peft/adapterFolder';
import { assertFits, estimateMemory, estimateMemoryFromSpec, measureActivationBytes, warmup, type Preflight } from './train/preflight';
import { dataOptionsOf, resolveRunConfig, type RunConfig, type RunConfigInput } from './runConfig';
import { patternRecord } from '../protocol/runConfig';
import { describeValidation } from './runEval';
import { newRunId, RunDir, runsRoot, type RunLock } from './runs';
import { loadTokenizer } from './hf/tokenizer';
import { stepsPerEpoch, totalSteps, trainLoop, type TrainerConfig, type TrainerEvent } from './train/trainer';
import { versions } from './runs/versions';
import { writeAdapterCard } from './peft/modelCard';
import { rewindMetrics, SUPERSEDED_METRICS_FILE } from './runs/rewind';
import { EvalExamplesLog } from './runs/evalExamples';
import { describeWarnings, lintDataset } from './lint/lint';
import type { FinishedStatus, PhaseEvent, SessionEvent } from '../protocol/worker';

export type { SessionEvent };

export interface SessionOptions {
  signal?: AbortSignal;
  /** Continue this run folder from its last checkpoint (the config comes from its run.json). */
  resumeRunDir?: string;
}

function errorKind(e: unknown): string {
  if (e instanceof MemoryLimitError) return 'memory';
  if ((e as Error)?.name === 'RunLockedError') return 'locked';
  const name = (e as Error)?.name ?? '';
  if (/Config|Dataset|Adapter|Safetensors|Backend/.test(name)) return name.replace(/Error$/, '').toLowerCase();
  return 'internal';
}

function trainerConfig(c: RunConfig, examples: number): TrainerConfig {
  const t = c.training;
  const base: TrainerConfig = {
    lr: t.learningRate, schedule: t.schedule, warmupSteps: 0, epochs: t.epochs, maxSteps: t.maxSteps, batchSize: t.batchSize, gradAccum: t.gradientAccumulation,
    maxGradNorm: t.maxGradNorm, adamw: { beta1: t.beta1, beta2: t.beta2, eps: t.eps, weightDecay: t.weightDecay }, loraplusLrRatio: t.loraplusLrRatio, seed: t.seed,
    reportEvery: t.reportEvery, evalEvery: 1, checkpointEvery: 1, patience: t.earlyStoppingPatience, groupByLength: t.groupByLength, baseDropout: t.baseDropout,
  };
  const total = totalSteps(examples, base);
  const evalEvery = t.evalEvery ?? Math.max(1, Math.round(total / 10)); // about ten evaluations per run
  return {
    ...base,
    warmupSteps: t.warmupSteps ?? Math.floor(t.warmupRatio * total),
    evalEvery,
    checkpointEvery: t.checkpointEvery ?? evalEvery,
  };
}

/** A resumed run's config (from its run.json) and last checkpoint; `run` is locked first, so a failure here is recorded in it. */
function reopenRun(run: RunDir, given: string): { config: RunConfig; resume: TrainerCheckpoint } {
  run.recover(); // this process holds the run's lock: put back any checkpoint a crash left aside
  const config = resolveRunConfig(run.record().config as RunConfigInput);
  const ckDir = run.checkpointDir('last');
  if (!ckDir) throw new Error(`${given}: no "last" checkpoint to resume from`);
  return { config, resume: readCheckpoint(ckDir) };
}

/** The LoRA options as addAdapter takes them. */
function loraOptions(config: RunConfig): Partial<LoraConfig> {
  const l = config.lora;
  return { r: l.r, loraAlpha: l.alpha, loraDropout: l.dropout, targetModules: l.targetModules, useRslora: l.useRslora, useDora: l.useDora, initLoraWeights: initLoraWeightsOf(l.init), layersToTransform: l.layers,
    rankPattern: patternRecord(l.rankPattern), alphaPattern: patternRecord(l.alphaPattern) };
}

/**
 * The adapter's config checked against config.json before anything is loaded: targets and layers
 * that exist, and a rank within min(in, out) of every targeted module. A given PEFT adapter
 * (--adapter) brings its own settings: its adapter_config.json and tensor shapes are checked here
 * too (no weight read), so the memory estimate covers it before the model is loaded.
 */
function checkLora(config: RunConfig, spec: ModelSpec, resume: TrainerCheckpoint | undefined): LoraConfig {
  const given = !resume && config.initAdapter;
  const lora = resume ? resume.lora : given ? checkPeftAdapter(given, spec) : resolveLoraConfig(spec, loraOptions(config));
  const problem = rankProblem(spec, lora);
  if (problem) throw new LoraConfigError(given ? `${given}: ${problem}` : problem);
  return lora;
}

/** Settings that pass every range check but cannot be meant: logged as warnings, the run goes on. */
function settingWarnings(tcfg: TrainerConfig, examples: number): string[] {
  const out: string[] = [];
  const total = totalSteps(examples, tcfg);
  if (tcfg.warmupSteps > total) {
    out.push(`the warm-up (${tcfg.warmupSteps} steps) is longer than the run (${total} steps): the learning rate never reaches ${tcfg.lr}. Lower --warmup-steps or train longer`);
  }
  const batches = Math.ceil(examples / tcfg.batchSize);
  if (tcfg.gradAccum > batches) {
    out.push(`gradient accumulation of ${tcfg.gradAccum} micro-batches is larger than the ${batches} batch${batches === 1 ? '' : 'es'} of one epoch (${examples} examples, batch ${tcfg.batchSize}): each step averages only ${batches}, one step per epoch. Lower --grad-accum`);
  }
  return out;
}

/**
 * What the dataset lint finds that training's own pass does not refuse: duplicate rows, rows in both
 * the training and the validation file, empty assistant turns, rows ending in the EOS text (one
 * structural pass, no tokenizing: the counts of truncation are in the data report).
 */
async function lintWarnings(config: RunConfig, s: SessionData, signal?: AbortSignal): Promise<string[]> {
  const d = dataOptionsOf(config);
  const validFile = s.data.validSource === 'file' || s.data.validSource === 'sibling' ? s.data.validReport.file : false;
  const report = await lintDataset(config.data, { tokens: false, tokenizer: s.tokenizer, maxSeqLen: d.maxSeqLen, maxRowBytes: d.maxRowBytes, columns: d.columns, validFile, signal });
  const stale = [s.data.trainReport.excluded?.stale, s.data.validReport.file !== s.data.trainReport.file ? s.data.validReport.excluded?.stale : undefined].filter((x): x is string => !!x);
  return [...stale, ...describeWarnings(report)];
}

/** Throws CancelledError naming `stage` when `signal` is aborted (after a yield, so a pending SIGINT or cancel message is seen). */
async function checkCancelled(signal: AbortSignal | undefined, stage: string): Promise<void> {
  if (!signal) return;
  await yieldToEventLoop();
  if (signal.aborted) throw new CancelledError(stage);
}

/**
 * The dataset, checked before any model is loaded (a bad file fails in a second, not after minutes),
 * then tokenized. Both passes check `signal` every few thousand rows; a cancel while tokenizing
 * the training file names the row out of the rows the check counted.
 */
async function* loadData(config: RunConfig, spec: ModelSpec, signal?: AbortSignal) {
  // input_ids and the tokenizer's ids are checked against the model's embedding rows, by file and line.
  const dataOpts = { ...dataOptionsOf(config), signal, vocabSize: spec.vocabSize, vocabSource: `vocab_size in ${path.join(config.model, 'config.json')}` };
  yield { type: 'phase', phase: 'checking-data', detail: `checking ${config.data}` } satisfies PhaseEvent;
  const checked = await checkDatasetFile(config.data, dataOpts);
  await checkCancelled(signal, 'loading the tokenizer');
  yield { type: 'phase', phase: 'checking-data', detail: `tokenizing ${config.data}` } satisfies PhaseEvent;
  const tokenizer = loadTokenizer(config.model);
  let data;
  try {
    data = await prepareData(config.data, tokenizer, dataOpts);
  } catch (e) {
    if (e instanceof CancelledError && e.stage === 'tokenizing' && e.file === config.data && e.row !== undefined) {
      throw new CancelledError(`tokenizing`, e.file, e.row, checked.rows);
    }
    throw e;
  }
  return { spec, tokenizer, data, padId: padIdFor(tokenizer) };
}
type SessionData = { spec: ModelSpec; tokenizer: ReturnType<typeof loadTokenizer>; data: Awaited<ReturnType<typeof prepareData>>; padId: number };

/** The backend, with the run's memory limit folded into its report. */
async function startBackend(config: RunConfig): Promise<BackendReport> {
  const loadedReport = await initBackend(config.backend, { threads: config.threads });
  const limit = config.memoryLimitBytes ?? loadedReport.memoryLimitBytes;
  return { ...loadedReport, ...(limit !== undefined ? { memoryLimitBytes: Math.min(limit, loadedReport.memoryLimitBytes ?? Infinity) } : {}) };
}

function excludedRecord(e: NonNullable<DatasetReport['excluded']>): { file: string; rows: number; lines: number[] } {
  return { file: e.file, rows: e.rows, lines: e.lines };
}

/** A new run folder with its record: config, model and dataset fingerprints, backend, versions. */
async function createRun(config: RunConfig, data: SessionData['data'], report: BackendReport): Promise<RunDir> {
  const root = runsRoot(config.workspace, config.runsDir);
  return RunDir.create(root, {
    // A given run name names the folder (<date>-<name>); else the dataset file does.
    ...(config.name ? { id: newRunId(new Date(), config.name, root) } : {}),
    name: config.name ?? path.basename(config.data),
    config,
    model: { path: path.resolve(config.model), fingerprint: fingerprintModel(config.model) },
    dataset: {
      path: path.resolve(config.data), sha256: await sha256File(config.data),
      // The validation file, given or found next to the training file (a split has none: it is part of `path`).
      ...(data.validSource === 'file' || data.validSource === 'sibling'
        ? { validPath: path.resolve(data.validReport.file), validSha256: await sha256File(data.validReport.file) }
        : {}),
      // Rows an exclusion list left out (core/data/exclusions.ts), so runs can be compared on them.
      ...(data.trainReport.excluded ? { excluded: excludedRecord(data.trainReport.excluded) } : {}),
      ...(data.validReport.excluded && data.validReport.file !== data.trainReport.file ? { validExcluded: excludedRecord(data.validReport.excluded) } : {}),
    },
    backend: report,
    versions: versions(),
  });
}

/** The model with its adapter: the checkpoint's when resuming, a given PEFT adapter's, or a new one. */
function setUpModel(config: RunConfig, spec: SessionData['spec'], report: BackendReport, resume: TrainerCheckpoint | undefined): { model: CausalLM; events: SessionEvent[] } {
  const events: SessionEvent[] = [];
  const loaded = loadModel(config.model);
  const model = loaded.model;
  const p = spec.dropout;
  if (config.training.baseDropout && p && (p.embd > 0 || p.attn > 0 || p.resid > 0)) {
    const what = spec.family === 'gpt2' ? `attn_pdrop ${p.attn}, resid_pdrop ${p.resid}, embd_pdrop ${p.embd}` : `attention_dropout ${p.attn}`;
    events.push({ type: 'log', level: 'info', message: `the model's own dropout is on in training (${what}), as in PyTorch's model.train(); --no-base-dropout / training.baseDropout false turns it off` });
  }
  if (loaded.unusedTensors.length) events.push({ type: 'log', level: 'warn', message: `checkpoint tensors not used by ${spec.architecture}: ${loaded.unusedTensors.slice(0, 5).join(', ')}` });
  if (resume) {
    const init = resume.init && new Map(resume.init.map((t) => [t.name, t])); // PiSSA/OLoRA: rebuild the residual base
    model.adapters.load(resume.lora, new Map(resume.adapter.map((t) => [t.name, { shape: t.shape, data: t.data }])), init);
  } else if (config.initAdapter) {
    const a = loadPeftAdapter(model, config.initAdapter);
    events.push({ type: 'log', level: 'info', message: `continuing the adapter ${config.initAdapter} (r=${a.config.r}, alpha ${a.config.loraAlpha}); its settings replace the LoRA options` });
    for (const w of a.warnings ?? []) events.push({ type: 'log', level: 'warn', message: w });
  } else {
    model.addAdapter(loraOptions(config), config.training.seed);
  }
  model.memoryGuard = (where) => checkMemory(report, where);
  model.memoryFits = (extra) => memoryFits(report, extra); // activations are kept (no recomputation) when they fit
  return { model, events };
}

/** Pre-flight: parameter counts, the memory estimate (throws when it does not fit) and a timed warm-up. */
async function preflight(model: CausalLM, s: SessionData, tcfg: TrainerConfig, report: BackendReport, resume: TrainerCheckpoint | undefined, signal?: AbortSignal): Promise<Preflight> {
  const { data, padId } = s;
  const byLength = data.train.map((e, i) => [e.ids.length, i]).sort((a, b) => b[0] - a[0]);
  const longestOne = makeBatch(data.train, [byLength[0][1]], padId);
  const mem = estimateMemory(model, report, await measureActivationBytes(model, longestOne, tcfg.batchSize));
  assertFits(mem, report);
  await checkCancelled(signal, 'running the pre-flight');
  // Warm up on the longest examples: the slowest, most memory-hungry micro-batch of the run.
  const wu = await warmup(model, makeBatch(data.train, byLength.slice(0, tcfg.batchSize).map(([, i]) => i), padId));
  const perEpoch = stepsPerEpoch(data.train.length, tcfg);
  const total = totalSteps(data.train.length, tcfg);
  const stepSeconds = (wu.ms / 1000) * tcfg.gradAccum;
  return {
    counts: countParameters(s.spec, model.loraConfig!),
    memory: mem, warmupMs: wu.ms, measuredPeakBytes: wu.peakBytes, stepsPerEpoch: perEpoch, totalSteps: total,
    secondsPerEpoch: stepSeconds * perEpoch, etaSeconds: stepSeconds * (total - (resume?.progress.step ?? 0)),
  };
}

type TrainerDone = Extract<TrainerEvent, { type: 'done' }>;

/** What a cancel during training leaves: the step reached and the checkpoint on disk (never one that is not). */
function cancelledAtStep(step: number, lastCheckpoint: number | undefined): string {
  if (lastCheckpoint === undefined || lastCheckpoint === 0) return `cancelled before step 1 finished; the run folder is kept as cancelled (no trained step to resume from)`;
  return `cancelled at step ${step}; the last checkpoint (step ${lastCheckpoint}) is kept`;
}

/** What a cancel before training leaves, after `what` (e.g. "cancelled while tokenizing train.jsonl (row 4,000 of 200,000)"). */
function cancelledBefore(what: string, run: RunDir | undefined, claimed: boolean, resume: TrainerCheckpoint | undefined): string {
  if (!run) return `${what}; nothing was written`;
  const kept = resume ? `its last checkpoint (step ${resume.progress.step}) is kept` : 'no checkpoint yet';
  return claimed ? `${what}; the run folder is kept as cancelled (${kept})` : `${what}; the run folder is unchanged (${kept})`;
}

/** The file the validation examples' lines are in: the validation file, or the training file for a held-out split. */
function validationFile(s: SessionData, config: RunConfig): string {
  return path.resolve(s.data.validSource === 'file' || s.data.validSource === 'sibling' ? s.data.validReport.file : config.data);
}

/** The training loop, its step and eval events appended to metrics.jsonl as they come; returns its `done` event. */
async function* train(run: RunDir, model: CausalLM, s: SessionData, tcfg: TrainerConfig, config: RunConfig, resume: TrainerCheckpoint | undefined, signal?: AbortSignal): AsyncGenerator<SessionEvent, TrainerDone | undefined> {
  run.update({ startedAt: new Date().toISOString() });
  const baseModel = path.resolve(config.model);
  let outcome: TrainerDone | undefined;
  let lastCheckpoint = resume?.progress.step;
  // Each validation example's loss at the best and the last evaluation (runs/evalExamples.ts).
  const evalExamples = new EvalExamplesLog(run.dir, validationFile(s, config), s.data.valid.map((e) => e.line));
  if (resume) evalExamples.resumeFrom(resume.progress.step, resume.progress.bestStep);
  for await (const ev of trainLoop({
    model, train: s.data.train, valid: s.data.valid, padId: s.padId, config: tcfg, resume, signal,
    saveCheckpoint: (name, ck) => run.writeCheckpointWith(name, (tmp) => writeCheckpoint(tmp, ck, s.spec, baseModel)),
    onEvalExamples: (ev, examples) => evalExamples.record(ev, examples),
  })) {
    if (ev.type === 'step' || ev.type === 'eval') run.appendMetric({ ...ev, time: new Date().toISOString() });
    if (ev.type === 'eval') run.log(`step ${ev.step}: validation loss ${ev.valLoss.toFixed(4)}${ev.best ? ' (best)' : ''}`);
    if (ev.type === 'checkpoint' && ev.name === 'last') lastCheckpoint = ev.step;
    if (ev.type === 'done') outcome = ev;
    yield ev;
  }
  if (outcome?.status === 'cancelled' && outcome.message === undefined) outcome = { ...outcome, message: cancelledAtStep(outcome.step, lastCheckpoint) };
  return outcome;
}

/**
 * Runs `work`, yielding the events it emits while it runs, then returns its result: callback
 * progress (the evaluation's phases) becomes events of this generator as it happens.
 */
async function* relay<E, R>(work: (emit: (e: E) => void) => Promise<R>): AsyncGenerator<E, R> {
  const queue: E[] = [];
  let wake: (() => void) | undefined;
  let settled = false;
  const result = work((e) => {
    queue.push(e);
    wake?.();
  }).finally(() => {
    settled = true;
    wake?.();
  });
  result.catch(() => {}); // rethrown by the await below
  for (;;) {
    while (queue.length) yield queue.shift()!;
    if (settled) break;
    await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
  }
  return await result;
}

/** End-of-run evaluation on the validation split → eval.json (see evaluate.ts). A failure is reported, not fatal. */
async function* evaluateAtEnd(run: RunDir, model: CausalLM, s: SessionData, config: RunConfig, report: BackendReport, signal?: AbortSignal): AsyncGenerator<SessionEvent> {
  try {
    const ev = yield* relay<PhaseEvent, Awaited<ReturnType<typeof evaluateRun>>>((onPhase) => evaluateRun({
      model, modelDir: config.model, valid: s.data.valid, padId: s.padId, tokenizer: s.tokenizer, runDir: run.dir, adapterDir: run.adapterDir,
      seed: config.training.seed, batchSize: config.training.batchSize, memoryLimitBytes: report.memoryLimitBytes,
      dataSource: describeValidation(s.data.validSource, config.data, s.data.validReport.file, s.data.valid.length, config),
      onPhase, signal,
    }));
    run.log(`evaluation: ${ev.path}`);
    yield { type: 'evaluation', path: ev.path, report: ev.report };
  } catch (e) {
    if (signal?.aborted) yield { type: 'log', level: 'warn', message: 'end-of-run evaluation cancelled (the adapter is saved; Evaluate Run… scores it later)' };
    else yield { type: 'log', level: 'warn', message: `end-of-run evaluation failed (the adapter is saved): ${(e as Error).message}` };
  }
}

/**
 * The run's case file (config.evals) on base, adapter and merged → <run>/evals/<name>.json, a tally
 * line in the log. The base is loaded again beside the training model (the memory guard applies).
 * A case-file problem or any failure is a warning: the run itself has completed.
 */
async function* casesAtEnd(run: RunDir, file: string, report: BackendReport, signal?: AbortSignal): AsyncGenerator<SessionEvent> {
  try {
    const done = yield* relay<PhaseEvent, Awaited<ReturnType<typeof runCaseFileOnRun>>>((onPhase) => runCaseFileOnRun(run.dir, file, report, { onPhase, signal }));
    const line = `${describeTally(done.report)} (${done.path})`;
    run.log(line);
    yield { type: 'log', level: 'info', message: line };
  } catch (e) {
    const message = signal?.aborted ? 'evaluation cases cancelled (the adapter is saved; lora-lab test --run runs them later)' : `evaluation cases not run (the adapter is saved): ${(e as Error).message}`;
    run.log(`warning: ${message}`);
    yield { type: 'log', level: 'warn', message };
  }
}

/** After training: the adapter (when completed), the evaluation, and the run's record. */
async function* wrapUp(run: RunDir, model: CausalLM, s: SessionData, config: RunConfig, report: BackendReport, outcome: TrainerDone | undefined, signal?: AbortSignal): AsyncGenerator<SessionEvent> {
  const status: FinishedStatus = outcome?.status === 'diverged' ? 'failed' : outcome?.status === 'cancelled' ? 'cancelled' : 'completed';
  if (status === 'completed') {
    // PiSSA/OLoRA: PEFT's converted form (rank 2r), which applies to the original base.
    const saved = model.adapters.peftForm();
    run.writeAdapterWith((tmp) => writePeftAdapter(tmp, saved.config, s.spec, path.resolve(config.model), saved.tensors));
    yield { type: 'adapter', dir: run.adapterDir };
    if (s.data.valid.length > 0) yield* evaluateAtEnd(run, model, s, config, report, signal);
    if (config.evals) yield* casesAtEnd(run, config.evals, report, signal);
  }
  const summary = { finalStep: outcome?.step, bestValLoss: outcome?.bestValLoss, bestStep: outcome?.bestStep, stoppedEarly: outcome?.status === 'early-stopped' };
  run.finish(status, { summary, ...(outcome?.status === 'diverged' ? { error: { message: outcome.message ?? 'diverged', kind: 'diverged' } } : {}) });
  if (status === 'completed') {
    // The adapter's model card (README.md), from run.json and eval.json as they now are.
    try {
      writeAdapterCard(run.adapterDir, config.model);
    } catch (e) {
      yield { type: 'log', level: 'warn', message: `the adapter's README.md (model card) was not written: ${(e as Error).message}` };
    }
  }
  run.log(`finished: ${status}${outcome?.message ? ` (${outcome.message})` : ''}`);
  yield { type: 'finished', status, runDir: run.dir, message: outcome?.message };
}

export async function* runSession(input: RunConfigInput, opts: SessionOptions = {}): AsyncGenerator<SessionEvent> {
  const signal = opts.signal;
  let run: RunDir | undefined;
  let lock: RunLock | undefined;
  /** Whether this session has written the run's record as its own (created it, or claimed it to resume). */
  let claimed = false;
  let resume: TrainerCheckpoint | undefined;
  // Cancelled before it started (a Ctrl-C at once): nothing is opened, locked or written.
  if (signal?.aborted) {
    yield { type: 'finished', status: 'cancelled', message: 'cancelled before it started; nothing was written' };
    return;
  }
  try {
    let config: RunConfig;
    if (opts.resumeRunDir) {
      // One writer per run: refused here (nothing written) when a live process holds it.
      const reopened = RunDir.open(opts.resumeRunDir);
      lock = reopened.lock('training');
      run = reopened;
      ({ config, resume } = reopenRun(run, opts.resumeRunDir));
    } else {
      config = resolveRunConfig(input);
    }
    yield { type: 'config', config };

    // 1. Checks that need only config.json and the safetensors headers: every weight present with
    // config.json's shape and a trainable dtype; LoRA targets, layers and rank. And a runs folder
    // a run folder can be made in (a file in its path, read-only, unwritable), before any work.
    if (!run) RunDir.assertCanCreateIn(runsRoot(config.workspace, config.runsDir));
    const { spec } = readConfig(config.model);
    checkModelWeights(config.model, spec);
    const lora = checkLora(config, spec, resume);
    await checkCancelled(signal, 'checking the config');

    // 2. The dataset, before any model is loaded; then settings that cannot be meant.
    const s: SessionData = yield* loadData(config, spec, signal);
    await checkCancelled(signal, 'loading the data');
    yield { type: 'data', train: s.data.trainReport, valid: s.data.validReport, validSource: s.data.validSource };
    const tcfg = trainerConfig(config, s.data.train.length);
    const warnings = [...(await lintWarnings(config, s, signal)), ...settingWarnings(tcfg, s.data.train.length)];
    for (const message of warnings) yield { type: 'log', level: 'warn', message };

    // 3. Backend, and the memory the shapes alone need, against its limit (no tensor yet).
    const report = await startBackend(config);
    await checkCancelled(signal, 'starting the backend');
    yield { type: 'backend', report };
    assertFits(estimateMemoryFromSpec(spec, lora, report), report, 'pre-flight estimate before loading (weights + adapter + optimizer + gradients, activations not counted)');

    // 4. The run folder, locked (so a run that fails from here on keeps its record).
    if (!run) {
      const created = await createRun(config, s.data, report);
      lock = created.lock('training');
      run = created;
      claimed = true;
    } else {
      run.claim();
      claimed = true;
      run.update({ status: 'running', error: undefined, endedAt: undefined, backend: report, resumedFrom: { runId: run.id, checkpoint: 'last', step: resume!.progress.step } });
      // Rows logged past the checkpoint are logged again by the resumed training: set them aside.
      const moved = rewindMetrics(run.metricsPath, resume!.progress.step);
      if (moved) run.log(`resuming from step ${resume!.progress.step}: ${moved} metrics row(s) logged after it moved to ${SUPERSEDED_METRICS_FILE}`);
    }
    run.log(`backend ${report.backend} (${report.device}, ${report.threads} threads)`);
    for (const message of warnings) run.log(`warning: ${message}`);
    yield { type: 'run', runId: run.id, dir: run.dir, resumedFromStep: resume?.progress.step };

    // 5. Model and adapter (read in one synchronous pass: the signal is checked before and after).
    await checkCancelled(signal, 'loading the model');
    yield { type: 'phase', phase: 'loading-model' };
    const { model, events } = setUpModel(config, s.spec, report, resume);
    yield* events;
    try {
      await checkCancelled(signal, 'loading the model');
      // 6. Pre-flight, measured.
      yield { type: 'phase', phase: 'preflight' };
      const pre = await preflight(model, s, tcfg, report, resume, signal);
      run.appendMetric({ type: 'preflight', ...pre });
      yield { type: 'preflight', ...pre };
      // 7. Train; 8. the adapter, the evaluation and the record.
      const outcome = yield* train(run, model, s, tcfg, config, resume, signal);
      yield* wrapUp(run, model, s, config, report, outcome, signal);
    } finally {
      model.dispose();
    }
  } catch (e) {
    if (e instanceof CancelledError) {
      const message = cancelledBefore(e.message, run, claimed, resume);
      if (run && claimed) {
        try {
          run.log(message);
          run.finish('cancelled');
        } catch {
          // The record could not be updated (disk full?): the cancel itself still reaches the user.
        }
      }
      yield { type: 'finished', status: 'cancelled', runDir: run?.dir, message };
      return;
    }
    const message = (e as Error).message ?? String(e);
    const kind = errorKind(e);
    if (run) {
      try {
        run.log(`failed (${kind}): ${message}`);
        run.finish('failed', { error: { message, kind } });
      } catch {
        // The record could not be updated (disk full?): the error itself still reaches the user.
      }
    }
    yield { type: 'finished', status: 'failed', runDir: run?.dir, message, errorKind: kind };
  } finally {
    lock?.release(); // also when the consumer stops early (generator return)
  }
}
