// Runs evaluation cases (issue 16) on models — the base, the base with an adapter installed (a run's
// adapter, a checkpoint), a merged model from its folder or built in memory — and returns the report
// (cases × models). The base model is loaded once; adapters are installed on it and removed between
// models. Per model: the completions of loss checks are scored (mean loss per token, training's
// loss mask), then the prompts of output checks generate in batches (greedy unless the case samples)
// and each batch's outcomes are told as they come. A case that cannot run on a model (no chat
// template, prompt longer than GPT-2's positions, an adapter that does not load) is an `error`
// outcome, not a failure of the whole run. Used by `lora-lab test`, the worker's test job and a
// run's end-of-run evaluation.
import * as tf from '@tensorflow/tfjs';
import * as path from 'node:path';
import { checkMemory, type BackendReport } from '../../backend';
import { messageOf } from '../../data/errors';
import { readConfig, type ModelSpec } from '../../hf/config';
import { sha256File } from '../../hf/fingerprint';
import { loadTokenizer, type LoraTokenizer } from '../../hf/tokenizer';
import type { CausalLM } from '../../models/causalLm';
import { loadModel } from '../../models/load';
import { readPeftAdapterFor } from '../../peft/adapterFolder';
import { buildMergedModel } from '../../peft/merge';
import { generateBatchAsync } from '../generateBatch';
import type { Sampling } from '../generate';
import { DEFAULT_CASE_MAX_NEW_TOKENS, tally, type CaseModel, type CaseOutcome, type CasesReport, type EvalCase } from '../../../protocol/evalCases';
import type { PhaseEvent } from '../../../protocol/progress';
import { caseStatus, checkLoss, checkOutput } from './expect';
import { CaseTokenizer, type CaseTokens, type LossSequence } from './caseTokens';

/** Prompts generated together (one generateBatchAsync call: a cancel lands within a decoding step, progress between batches). */
export const DEFAULT_CASE_BATCH = 8;

export interface RunCasesOptions {
  /** The case file (for the report's path and SHA-256). */
  file: string;
  cases: EvalCase[];
  models: CaseModel[];
  backend: BackendReport;
  /** Run only the cases of these names (every name must exist). */
  only?: string[];
  /** The report's gate (the model label whose failures fail the whole). */
  gate?: string;
  /** The run folder the models belong to (the report's `run`). */
  run?: string;
  /** The base model folder; default: the first model that is not a merged folder. */
  baseModel?: string;
  batchSize?: number;
  /** Told for each outcome as it is known (a batch of a model at a time). */
  onOutcome?: (o: CaseOutcome) => void;
  onPhase?: (e: PhaseEvent) => void;
  /** Stops between batches with an AbortError. */
  signal?: AbortSignal;
  /** Extra report notes (e.g. how the models were found). */
  notes?: string[];
}

/** The cases `only` names, in file order; throws naming the unknown ones and the names there are. */
export function selectCases(cases: readonly EvalCase[], only?: readonly string[]): EvalCase[] {
  if (!only) return [...cases];
  const unknown = only.filter((n) => !cases.some((c) => c.name === n));
  if (unknown.length) throw new Error(`no case named ${unknown.map((n) => JSON.stringify(n)).join(', ')}; the cases are ${cases.map((c) => c.name).join(', ')}`);
  return cases.filter((c) => only.includes(c.name));
}

/** EOS ids from config.json and the tokenizer (as evaluate.ts's end-of-run generations stop). */
export function caseEosIds(spec: ModelSpec, tokenizer?: LoraTokenizer): number[] {
  const ids = [spec.eosTokenId ?? []].flat();
  if (tokenizer?.special.eos) ids.push(tokenizer.special.eos.id);
  return [...new Set(ids)];
}

/** The model whose failures fail the whole by default: the adapter if there is one, else the merged model, else the base (else the first). */
export function defaultGate(models: readonly CaseModel[]): string {
  for (const kind of ['adapter', 'merged', 'base'] as const) {
    const m = models.find((x) => x.kind === kind);
    if (m) return m.label;
  }
  return models[0]?.label ?? 'adapter';
}

/** The gate's outcomes that fail it (status fail or error). */
export function gateFailures(r: CasesReport, gate = r.gate ?? defaultGate(r.models)): CaseOutcome[] {
  return r.outcomes.filter((o) => o.model === gate && (o.status === 'fail' || o.status === 'error'));
}

/** One line for a log (evalCases.tally's wording per model): "cases: base 2/8 passed (6 failed) · adapter 6/8 passed (1 failed, 1 skipped) · merged 6/8 passed (2 failed)". */
export function describeTally(r: CasesReport): string {
  const t = tally(r);
  return `cases: ${r.models.map((m) => t[m.label].line).join(' · ')}`;
}

function samplingOf(c: EvalCase): Sampling | undefined {
  const s = c.sampling;
  return s && s.temperature > 0 ? { temperature: s.temperature, topP: s.topP ?? 1, seed: s.seed ?? 0 } : undefined;
}

/** Mean loss per loss token of `l` under `model` (its loss with training's weights). */
export function sequenceLoss(model: CausalLM, l: LossSequence): number {
  const r = model.loss([l.ids], [l.weights]);
  try {
    return r.loss.dataSync()[0];
  } finally {
    r.loss.dispose();
  }
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Prepared {
  c: EvalCase;
  t: CaseTokens;
  /** The base model's loss of the completion (for lowerLossThanBase); undefined when not scored. */
  baseLoss?: number;
  baseError?: string;
}

export async function runCases(o: RunCasesOptions): Promise<CasesReport> {
  const t0 = performance.now();
  const file = path.resolve(o.file);
  const cases = selectCases(o.cases, o.only);
  if (o.models.length === 0) throw new Error('no model to run the cases on');
  const labels = o.models.map((m) => m.label);
  const dup = labels.find((l, i) => labels.indexOf(l) !== i);
  if (dup !== undefined) throw new Error(`two models are labelled "${dup}": labels name the report's columns and must differ`);
  const sha256 = await sha256File(file);
  const baseDir = path.resolve(o.baseModel ?? (o.models.find((m) => m.kind !== 'merged' || m.adapter !== undefined) ?? o.models[0]).model);
  const { spec } = readConfig(baseDir);
  const tokenizer = loadTokenizer(baseDir);
  const toks = new CaseTokenizer(tokenizer, baseDir, file, spec);
  const prepared: Prepared[] = cases.map((c) => ({ c, t: toks.tokens(c) }));
  const eosIds = caseEosIds(spec, tokenizer);
  const chatEosIds = [...new Set([...eosIds, ...(tokenizer && cases.some((c) => c.messages) ? toks.turnEndIds() : [])])];
  const batchSize = Math.max(1, o.batchSize ?? DEFAULT_CASE_BATCH);
  const notes = [...(o.notes ?? [])];
  const byKey = new Map<string, CaseOutcome>();
  const modelMs: Record<string, number> = {};
  const total = prepared.length * o.models.length;
  let done = 0;
  let phaseStart = performance.now();
  const progress = (label: string) => o.onPhase?.({ type: 'phase', phase: 'evaluating', done, total, elapsedMs: performance.now() - phaseStart, detail: `cases on ${label}` });
  const tell = (oc: CaseOutcome) => {
    byKey.set(`${oc.line}\u0000${oc.model}`, oc);
    done++;
    o.onOutcome?.(oc);
  };

  o.onPhase?.({ type: 'phase', phase: 'loading-model', detail: baseDir });
  const base = loadModel(baseDir).model;
  base.memoryGuard = (where) => checkMemory(o.backend, where);
  try {
    // The base's losses once: lowerLossThanBase compares every other model with them.
    for (const p of prepared) {
      if (!p.t.loss) continue;
      try {
        p.baseLoss = sequenceLoss(base, p.t.loss);
      } catch (e) {
        p.baseError = messageOf(e);
      }
    }
    phaseStart = performance.now();
    for (const m of o.models) {
      o.signal?.throwIfAborted();
      const m0 = performance.now();
      let model: CausalLM;
      let owned = false;
      try {
        o.onPhase?.({ type: 'phase', phase: m.kind === 'merged' ? 'merging' : 'loading-model', detail: m.label });
        ({ model, owned } = setUpModel(m, base, baseDir, o.backend));
      } catch (e) {
        const why = `${m.label}: ${messageOf(e)}`;
        for (const p of prepared) tell(errorOutcome(p.c, m, why));
        notes.push(`${m.label} could not be loaded: ${messageOf(e)}`);
        modelMs[m.label] = Math.round(performance.now() - m0);
        continue;
      }
      progress(m.label);
      try {
        await runOnModel(model, m, prepared, { eosIds, chatEosIds, batchSize, tokenizer, signal: o.signal, tell, progress: () => progress(m.label) });
      } finally {
        if (owned) model.dispose();
      }
      modelMs[m.label] = Math.round(performance.now() - m0);
    }
  } finally {
    base.dispose();
  }
  const outcomes: CaseOutcome[] = [];
  for (const p of prepared) for (const m of o.models) outcomes.push(byKey.get(`${p.c.line}\u0000${m.label}`)!);
  return {
    formatVersion: 1, createdAt: new Date().toISOString(), file, sha256,
    ...(o.run !== undefined ? { run: path.resolve(o.run) } : {}),
    models: o.models, cases: cases.map((c) => ({ name: c.name, line: c.line })), outcomes,
    ...(o.gate !== undefined ? { gate: o.gate } : {}),
    backend: `${o.backend.backend} on ${o.backend.device}, ${o.backend.threads} thread(s)`,
    ms: Math.round(performance.now() - t0), modelMs, notes,
  };
}

/**
 * The model `m` stands for: the base (adapter removed), the base with m.adapter installed, or a
 * merged model (from its own folder, or built in memory from the base and m.adapter; `owned`: the
 * caller disposes it). Throws, naming the folder, when it cannot be had.
 */
function setUpModel(m: CaseModel, base: CausalLM, baseDir: string, backend: BackendReport): { model: CausalLM; owned: boolean } {
  base.removeAdapter();
  if (m.kind === 'base') return { model: base, owned: false };
  const readAdapter = () => {
    if (!m.adapter) throw new Error(`a ${m.kind} model needs an adapter folder`);
    const adapter = readPeftAdapterFor(m.adapter, base.spec); // shapes checked before the weights are read
    return { config: adapter.config, tensors: adapter.tensors };
  };
  if (m.kind === 'adapter' || m.kind === 'checkpoint') {
    const a = readAdapter();
    base.loadAdapter(a.config, a.tensors);
    return { model: base, owned: false };
  }
  // merged: a second copy of the weights must fit beside the base.
  checkMemory(backend, `the merged model (${m.label}) beside the base`, tf.memory().numBytes);
  let merged: CausalLM;
  if (m.adapter !== undefined && path.resolve(m.model) === baseDir) {
    const a = readAdapter();
    merged = buildMergedModel(baseDir, a.config, a.tensors);
  } else {
    merged = loadModel(m.model).model;
    const s = merged.spec;
    const b = base.spec;
    if (s.architecture !== b.architecture || s.vocabSize !== b.vocabSize || s.numLayers !== b.numLayers || s.hiddenSize !== b.hiddenSize) {
      merged.dispose();
      throw new Error(`${m.model} is a ${s.architecture} (${s.numLayers} layers × ${s.hiddenSize}, vocab ${s.vocabSize}), not a merge of ${baseDir}: give the merged folder of this base`);
    }
  }
  merged.memoryGuard = (where) => checkMemory(backend, where);
  return { model: merged, owned: true };
}

function errorOutcome(c: EvalCase, m: CaseModel, error: string): CaseOutcome {
  return { case: c.name, line: c.line, model: m.label, status: 'error', checks: [], error };
}

/** Every case on one model: losses first, then generations in batches; outcomes told as each batch ends. */
async function runOnModel(
  model: CausalLM, m: CaseModel, prepared: Prepared[],
  s: { eosIds: number[]; chatEosIds: number[]; batchSize: number; tokenizer?: LoraTokenizer; signal?: AbortSignal; tell: (o: CaseOutcome) => void; progress: () => void },
): Promise<void> {
  const isBase = m.kind === 'base';
  const losses = new Map<Prepared, { loss?: number; error?: string }>();
  for (const p of prepared) {
    if (p.t.error || !p.t.loss) continue;
    if (isBase) losses.set(p, { loss: p.baseLoss, error: p.baseError });
    else {
      try {
        losses.set(p, { loss: sequenceLoss(model, p.t.loss) });
      } catch (e) {
        losses.set(p, { error: messageOf(e) });
      }
    }
  }
  const finish = (p: Prepared, out?: CaseOutcome['output'], genError?: string): CaseOutcome => {
    if (p.t.error) return errorOutcome(p.c, m, p.t.error);
    if (genError) return errorOutcome(p.c, m, genError);
    const l = losses.get(p);
    if (l?.error) return errorOutcome(p.c, m, `scoring the completion: ${l.error}`);
    const checks = [...(out ? checkOutput(p.c.expect, out.text) : [])];
    const oc: CaseOutcome = { case: p.c.name, line: p.c.line, model: m.label, status: 'pass', checks };
    if (out) oc.output = out;
    if (p.t.loss && l?.loss !== undefined) {
      checks.push(...checkLoss(p.c.expect, { loss: l.loss, baseLoss: p.baseLoss, isBase }));
      oc.loss = l.loss;
      if (p.baseLoss !== undefined) oc.baseLoss = p.baseLoss;
      oc.lossTokens = p.t.loss.tokens;
    }
    oc.status = caseStatus(checks);
    return oc;
  };
  // Cases without a generation are known now.
  const generating = prepared.filter((p) => !p.t.error && p.t.prompt);
  for (const p of prepared) if (!generating.includes(p)) s.tell(finish(p));
  s.progress();
  // Prompt cases stop at EOS; conversations also at the template's end of turn (batched apart).
  const batches: { batch: Prepared[]; eosIds: number[] }[] = [];
  for (const [group, eosIds] of [[generating.filter((p) => !p.c.messages), s.eosIds], [generating.filter((p) => p.c.messages), s.chatEosIds]] as const) {
    for (let i = 0; i < group.length; i += s.batchSize) batches.push({ batch: group.slice(i, i + s.batchSize), eosIds });
  }
  for (const { batch, eosIds } of batches) {
    s.signal?.throwIfAborted();
    let gens: Awaited<ReturnType<typeof generateBatchAsync>> | undefined;
    let genError: string | undefined;
    try {
      gens = await generateBatchAsync(model, batch.map((p) => p.t.prompt!), {
        maxNewTokens: batch.map((p) => p.c.maxNewTokens ?? DEFAULT_CASE_MAX_NEW_TOKENS), eosIds, sampling: batch.map((p) => samplingOf(p.c)), batchSize: batch.length, signal: s.signal,
      });
    } catch (e) {
      if (s.signal?.aborted) throw e;
      genError = `generating: ${messageOf(e)}`;
    }
    batch.forEach((p, j) => {
      const g = gens?.[j];
      const out = g && { text: s.tokenizer ? s.tokenizer.decode(g.ids, { skipSpecialTokens: true }) : g.ids.join(' '), ids: g.ids, stop: g.stop, ms: Math.round(g.ms) };
      s.tell(finish(p, out, genError));
    });
    s.progress();
    await yieldToEventLoop(); // a cancel or progress message gets through between batches
  }
}
