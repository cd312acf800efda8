// `lora-lab eval`: loss, perplexity and token accuracy of a base model, the base + its adapter and
// the merged model on a dataset; the merge and effect checks; greedy and sampled generations side
// by side. Also formats an evaluation report for the terminal (used for runs' eval.json too).
import * as path from 'node:path';
import { initBackend } from '../core/backend';
import { loadExamples, padIdFor } from '../core/data';
import { writeEvalReport, type EvalReport, type ModelRole } from '../core/eval/evaluate';
import { evaluateFolders } from '../core/eval/evaluateFolders';
import type { GenerationOut, TokensText } from '../core/eval/generate';
import { readConfig } from '../core/hf/config';
import { checkPeftAdapter } from '../core/peft/adapterFolder';
import { runEvalInputs, runValidation } from '../core/runEval';
import { loadTokenizer } from '../core/hf/tokenizer';
import { BACKEND_CHOICES, backendFlag, CliUsageError, type CliCommand, formatInt, optionalInt, optionalNumber, requireString } from './common';

function show(t: TokensText, max = 100): string {
  if (t.text === undefined) return `ids [${t.ids.join(' ')}]`;
  const s = JSON.stringify(t.text);
  return s.length > max ? `${s.slice(0, max - 1)}…"` : s;
}

/** The report as terminal lines: a score table, the two checks, then the generations. */
export function formatEvalReport(r: EvalReport): string[] {
  const roles = (['base', 'adapter', 'merged'] as ModelRole[]).filter((k) => r[k]);
  const lines = [`${''.padEnd(9)}${'loss'.padStart(9)}${'perplexity'.padStart(12)}${'accuracy'.padStart(10)}${'tokens'.padStart(9)}`];
  for (const k of roles) {
    const s = r[k]!;
    lines.push(`${k.padEnd(9)}${s.loss.toFixed(4).padStart(9)}${s.perplexity.toFixed(2).padStart(12)}${`${(100 * s.accuracy).toFixed(1)}%`.padStart(10)}${formatInt(s.tokens).padStart(9)}`);
  }
  const m = r.mergeCheck;
  if (m) lines.push(`merge    ${m.flagged ? 'FLAGGED' : 'ok'}: max |logit(merged) − logit(adapter)| = ${m.maxAbsLogitDiff.toExponential(2)} (threshold ${m.threshold.toPrecision(2)}); ${m.message}`);
  const e = r.effectCheck;
  if (e) lines.push(`effect   ${e.flagged ? 'FLAGGED' : 'ok'}: mean |logit(${e.compared}) − logit(base)| = ${e.meanAbsLogitDiff.toExponential(2)} (threshold ${e.threshold}); ${e.message}`);
  for (const n of r.notes) lines.push(`note     ${n}`);
  if (r.generations.length) {
    const g = r.generation;
    lines.push(`generate greedy, and sampled at temperature ${g.temperature}, top-p ${g.topP}, seed ${g.seed}+prompt index; up to ${g.maxNewTokens} new tokens`);
  }
  r.generations.forEach((entry, i) => {
    lines.push(`[${i + 1}] prompt     ${show(entry.prompt, 160)}`, `    reference  ${show(entry.reference)}`);
    for (const [role, out] of Object.entries(entry.outputs) as [ModelRole, { greedy: GenerationOut; sampled: GenerationOut }][]) {
      lines.push(`    ${role.padEnd(8)}greedy   ${show(out.greedy)}${out.greedy.stop === 'eos' ? ' <eos>' : ''}`);
      lines.push(`    ${''.padEnd(8)}sampled  ${show(out.sampled)}${out.sampled.stop === 'eos' ? ' <eos>' : ''}`);
    }
  });
  return lines;
}

export const evalCommand: CliCommand = {
  summary: 'Evaluate a model, its adapter and the merged model on a dataset (loss, perplexity, accuracy, merge/effect checks, generations)',
  synopsis: '(--model <dir> [--adapter <dir>] [--merged <dir>] --data <file> | --run <dir>) [--json] [--out eval.json] [--prompts 3 --max-new-tokens 32 --temperature 0.8 --top-p 0.95 --seed 0]',
  options: {
    run: {
      type: 'string', valueName: 'dir',
      description: 'A LoRA Lab run folder (.lora-lab/runs/<id>): its base model, its adapter and the validation examples the run held out, rebuilt as training built them (the flags below override each part)',
    },
    model: { type: 'string', valueName: 'dir', description: 'Base Hugging Face model folder' },
    adapter: { type: 'string', valueName: 'dir', description: 'PEFT adapter folder; without --merged the merged model is built in memory as lora-lab merge writes it' },
    merged: { type: 'string', valueName: 'dir', description: 'Merged model folder (e.g. from lora-lab merge)' },
    data: { type: 'string', valueName: 'file', description: 'Dataset: .jsonl, .json, .csv, .tsv or .txt (any training format)' },
    out: { type: 'string', valueName: 'file', description: 'Also write the report to this file (eval.json)' },
    'max-seq-len': { type: 'string', valueName: 'n', description: 'Tokens per example (longer ones are truncated)', default: "256; with --run, the run's" },
    batch: { type: 'string', valueName: 'n', description: 'Examples per forward pass', default: '4' },
    prompts: { type: 'string', valueName: 'n', description: 'Prompts to generate from (0: none)', default: '3' },
    'max-new-tokens': { type: 'string', valueName: 'n', description: 'Tokens generated per prompt', default: '32' },
    temperature: { type: 'string', valueName: 'T', description: 'Sampling temperature', default: '0.8' },
    'top-p': { type: 'string', valueName: 'p', description: 'Nucleus sampling mass', default: '0.95' },
    seed: { type: 'string', valueName: 'n', description: 'Sampling seed (prompt i uses seed + i)', default: "0; with --run, the run's" },
    'on-bad-rows': { type: 'string', valueName: 'policy', description: 'skip or fail', default: 'fail' },
    backend: { type: 'string', valueName: 'name', description: `Backend: ${BACKEND_CHOICES.join(', ')}`, default: 'auto' },
    threads: { type: 'string', valueName: 'n', description: 'wasm threads (default: as many as useful)' },
    json: { type: 'boolean', description: 'Print the report as one JSON object' },
  },
  async run(values) {
    const run = typeof values.run === 'string' ? runEvalInputs(values.run, typeof values.adapter === 'string' ? values.adapter : undefined) : undefined;
    const modelDir = run && values.model === undefined ? run.modelDir : requireString(values, 'model');
    const dataFile = run && values.data === undefined ? undefined : requireString(values, 'data');
    const adapterDir = typeof values.adapter === 'string' ? values.adapter : run?.adapterDir;
    const mergedDir = typeof values.merged === 'string' ? values.merged : undefined;
    const policy = values['on-bad-rows'] ?? 'fail';
    if (policy !== 'skip' && policy !== 'fail') throw new CliUsageError(`--on-bad-rows must be skip or fail, got "${policy}"`);
    const temperature = optionalNumber(values, 'temperature');
    const topP = optionalNumber(values, 'top-p');
    if (temperature !== undefined && !(temperature > 0)) throw new CliUsageError('--temperature must be > 0 (greedy outputs are always included)');
    if (topP !== undefined && !(topP > 0 && topP <= 1)) throw new CliUsageError('--top-p must be in (0, 1]');
    const { spec } = readConfig(modelDir);
    // An adapter for another model fails here, from its config and header, before the data is read.
    if (adapterDir !== undefined) checkPeftAdapter(adapterDir, spec);
    const tokenizer = loadTokenizer(modelDir);
    const maxSeqLen = optionalInt(values, 'max-seq-len', 2) ?? run?.config.training.maxSeqLen ?? 256;
    // Without --data, a run is scored on its own validation examples (never on what it trained on).
    const runValid = run && dataFile === undefined ? await runValidation(run, tokenizer, spec.vocabSize, maxSeqLen) : undefined;
    const data = dataFile !== undefined ? await loadExamples(dataFile, tokenizer, { maxSeqLen, policy, vocabSize: spec.vocabSize, vocabSource: `vocab_size in ${path.join(modelDir, 'config.json')}` }) : undefined;
    const examples = runValid?.examples ?? data!.examples;
    const backend = await initBackend(backendFlag(values), { threads: optionalInt(values, 'threads', 1) });
    const report = await evaluateFolders({
      modelDir, adapterDir, mergedDir, examples, padId: padIdFor(tokenizer), tokenizer, notes: runValid?.notes, backend,
      dataSource: runValid?.description ?? path.resolve(dataFile!),
      options: {
        batchSize: optionalInt(values, 'batch', 1), prompts: optionalInt(values, 'prompts', 0), maxNewTokens: optionalInt(values, 'max-new-tokens', 1),
        temperature, topP, seed: optionalInt(values, 'seed', 0) ?? run?.config.training.seed,
      },
    });
    if (typeof values.out === 'string') writeEvalReport(values.out, report);
    if (values.json) console.log(JSON.stringify(report));
    else {
      if (data) console.log(`data     ${dataFile}: ${data.report.format}, ${formatInt(data.report.examples)} examples, ${formatInt(data.report.lossTokens)} tokens with loss`);
      else console.log(`data     ${runValid!.description}`);
      console.log(`backend  ${backend.backend} on ${backend.device}, ${backend.threads} thread(s)`);
      console.log(formatEvalReport(report).join('\n'));
    }
    return report.mergeCheck?.flagged ? 1 : 0;
  },
};
