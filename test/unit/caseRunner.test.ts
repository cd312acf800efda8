// The evaluation-case runner (src/core/eval/cases/run.ts) on random tiny GPT-2 and Llama folders
// that carry the sample model's tokenizer (and its chat template), and on the real sample model.
// References: PEFT's invariant that an adapter with B = 0 changes nothing (every outcome equals the
// base's); the completion's loss recomputed independently from model.logits with training's mask
// (RowEncoder); the prompt as training tokenizes a prompt/completion row; generate() for greedy output.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { BackendReport } from '../../src/core/backend';
import { RowEncoder } from '../../src/core/data/encode';
import { CaseTokenizer } from '../../src/core/eval/cases/caseTokens';
import { runCases } from '../../src/core/eval/cases/run';
import { parseCases } from '../../src/core/eval/cases/caseFile';
import { generate } from '../../src/core/eval/generate';
import { parseConfig } from '../../src/core/hf/config';
import { writeSafetensors } from '../../src/core/hf/safetensors';
import { loadTokenizer } from '../../src/core/hf/tokenizer';
import { loadModel } from '../../src/core/models/load';
import { writePeftAdapter } from '../../src/core/peft/adapterFolder';
import { decodeCasesReport, type CaseModel, type CasesReport, type EvalCase } from '../../src/protocol/evalCases';
import { randomWeights } from './helpers/randomModel';

const SAMPLE = path.join(__dirname, '..', '..', 'samples', 'model');
const BACKEND = { backend: 'wasm', tfBackend: tf.getBackend(), device: 'cpu', threads: 1, attempts: [], versions: {}, notes: [] } as BackendReport;

const GPT2_RAW = { architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 16, n_head: 2, n_layer: 2, vocab_size: 4096, n_positions: 64, eos_token_id: 0, bos_token_id: 0 };
const LLAMA_RAW = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 16, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 24,
  num_hidden_layers: 2, vocab_size: 4096, max_position_embeddings: 256, tie_word_embeddings: false, eos_token_id: 0, bos_token_id: 0,
};

/** A model folder with random weights and the sample's tokenizer (`template: false` drops its chat template). */
function tinyFolder(raw: Record<string, unknown>, seed: number, template = true): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-cases-'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(raw));
  const src = randomWeights(parseConfig(raw), seed);
  writeSafetensors(path.join(dir, 'model.safetensors'), [...src.tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data, dtype: 'F32' as const })));
  fs.copyFileSync(path.join(SAMPLE, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  const cfg = JSON.parse(fs.readFileSync(path.join(SAMPLE, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  if (!template) delete cfg.chat_template;
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
  return dir;
}

/** A PEFT adapter folder for `modelDir`: B = 0 (a fresh adapter) unless `randomB`. */
function adapterFolder(modelDir: string, randomB: boolean): string {
  const { model, spec } = loadModel(modelDir);
  try {
    const cfg = model.addAdapter({ r: 4, loraAlpha: 8 }, 3);
    const tensors = model.adapterTensors().map((t) => (randomB && t.name.includes('lora_B') ? { ...t, data: t.data.map((_, i) => Math.sin(i + 1) * 0.5) } : t));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-cases-adapter-'));
    writePeftAdapter(dir, cfg, spec, modelDir, tensors);
    return dir;
  } finally {
    model.dispose();
  }
}

function casesOf(lines: object[]): { file: string; cases: EvalCase[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-casefile-'));
  const file = path.join(dir, 'tiny.evals.jsonl');
  const text = lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
  fs.writeFileSync(file, text);
  const { cases, problems } = parseCases(text, file);
  expect(problems).toEqual([]);
  return { file, cases };
}

const CASES = [
  { name: 'prompt-output', prompt: 'Define: Abasement\n', expect: { contains: ['the'] }, maxNewTokens: 6 },
  { name: 'prompt-loss', prompt: 'Define: Academy\n', completion: 'A modern school where football is taught.', expect: { lowerLossThanBase: true, maxLoss: 100 } },
  { name: 'chat-both', messages: [{ role: 'user', content: 'Define: Alien' }], completion: 'An American sovereign.', expect: { regex: '.', lowerLossThanBase: true }, maxNewTokens: 5 },
  { name: 'sampled', prompt: 'And the', expect: { notContains: ['zzzz'] }, maxNewTokens: 4, sampling: { temperature: 0.9, topP: 0.9, seed: 5 } },
];

const sameOutcome = (r: CasesReport, a: string, b: string) => {
  for (const c of r.cases) {
    const x = r.outcomes.find((o) => o.case === c.name && o.model === a)!;
    const y = r.outcomes.find((o) => o.case === c.name && o.model === b)!;
    expect(y.output?.ids, `${c.name}: ${b} output ids`).toEqual(x.output?.ids);
    expect(y.output?.text).toBe(x.output?.text);
    if (x.loss !== undefined) expect(y.loss!, `${c.name}: ${b} loss`).toBeCloseTo(x.loss, 5);
  }
};

describe.each([
  ['GPT-2', GPT2_RAW],
  ['Llama', LLAMA_RAW],
])('runCases on a random tiny %s with the sample tokenizer', (_name, raw) => {
  const modelDir = tinyFolder(raw, 11);
  const zero = adapterFolder(modelDir, false);
  const { file, cases } = casesOf(CASES);

  it('invariant: B = 0 ⇒ adapter and in-memory merged outcomes (output ids, text, loss) equal the base\'s; lowerLossThanBase is skipped on the base', async () => {
    const models: CaseModel[] = [
      { label: 'base', kind: 'base', model: modelDir },
      { label: 'adapter', kind: 'adapter', model: modelDir, adapter: zero },
      { label: 'merged', kind: 'merged', model: modelDir, adapter: zero, note: 'in memory' },
    ];
    const told: string[] = [];
    const report = await runCases({ file, cases, models, backend: BACKEND, batchSize: 3, onOutcome: (o) => told.push(`${o.case}@${o.model}`) });
    expect(decodeCasesReport(JSON.parse(JSON.stringify(report)))).toMatchObject({ ok: true });
    expect(report.outcomes.map((o) => `${o.case}@${o.model}`)).toEqual(CASES.flatMap((c) => models.map((m) => `${c.name}@${m.label}`)));
    expect(told.sort()).toEqual(report.outcomes.map((o) => `${o.case}@${o.model}`).sort());
    expect(report.outcomes.every((o) => o.status !== 'error')).toBe(true);
    sameOutcome(report, 'base', 'adapter');
    sameOutcome(report, 'base', 'merged');
    const baseLoss = report.outcomes.find((o) => o.case === 'prompt-loss' && o.model === 'base')!;
    expect(baseLoss.checks.find((c) => c.kind === 'lowerLossThanBase')!.status).toBe('skip');
    expect(baseLoss.status).toBe('pass'); // maxLoss 100 passes, the comparison is skipped
    const adapterLoss = report.outcomes.find((o) => o.case === 'prompt-loss' && o.model === 'adapter')!;
    expect(adapterLoss.baseLoss).toBeCloseTo(baseLoss.loss!, 6);
    expect(report.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(report.file).toBe(path.resolve(file));
  });

  it('a completion\'s loss equals the mean NLL computed from model.logits over the tokens training\'s mask scores (EOS included)', async () => {
    const report = await runCases({ file, cases, models: [{ label: 'base', kind: 'base', model: modelDir }], backend: BACKEND, only: ['prompt-loss'] });
    const o = report.outcomes[0];
    const tok = loadTokenizer(modelDir)!;
    const ex = new RowEncoder(tok, file, 'prompt-completion', 10_000).encode({ format: 'prompt-completion', prompt: 'Define: Academy\n', completion: 'A modern school where football is taught.' }, 2);
    expect(ex.ids.at(-1)).toBe(tok.special.eos!.id);
    const { model } = loadModel(modelDir);
    const logits = model.logits([ex.ids]);
    const data = logits.dataSync() as Float32Array;
    const V = logits.shape[2];
    logits.dispose();
    model.dispose();
    let nll = 0;
    let n = 0;
    for (let t = 1; t < ex.ids.length; t++) {
      if (!(ex.weights[t] > 0)) continue;
      const row = data.subarray((t - 1) * V, t * V);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      nll += lse - row[ex.ids[t]];
      n++;
    }
    expect(o.lossTokens).toBe(n);
    expect(o.loss!).toBeCloseTo(nll / n, 4);
  });

  it('an adapter with B ≠ 0 changes the outcome, and the in-memory merge reproduces it', async () => {
    const trained = adapterFolder(modelDir, true);
    const report = await runCases({
      file, cases, backend: BACKEND,
      models: [{ label: 'base', kind: 'base', model: modelDir }, { label: 'adapter', kind: 'adapter', model: modelDir, adapter: trained }, { label: 'merged', kind: 'merged', model: modelDir, adapter: trained, note: 'in memory' }],
    });
    const loss = (m: string) => report.outcomes.find((o) => o.case === 'prompt-loss' && o.model === m)!.loss!;
    expect(Math.abs(loss('adapter') - loss('base'))).toBeGreaterThan(1e-3);
    expect(loss('merged')).toBeCloseTo(loss('adapter'), 4);
  });
});

describe('case tokens and per-case errors', () => {
  const modelDir = tinyFolder(GPT2_RAW, 12, false);

  it('a prompt is tokenized exactly as training tokenizes the prompt of a prompt/completion row', () => {
    const tok = loadTokenizer(modelDir)!;
    const { file, cases } = casesOf([{ name: 'p', prompt: 'Define: Bait\n', expect: { contains: ['x'] } }]);
    const ids = new CaseTokenizer(tok, modelDir, file, parseConfig(GPT2_RAW)).tokens(cases[0]).prompt!;
    const ex = new RowEncoder(tok, file, 'prompt-completion', 10_000).encode({ format: 'prompt-completion', prompt: 'Define: Bait\n', completion: 'A hook.' }, 1);
    const firstLoss = ex.weights.findIndex((w, t) => t > 0 && w > 0);
    expect(ids).toEqual(ex.ids.slice(0, firstLoss));
  });

  it('a conversation also stops at the template\'s end-of-turn token (<|im_end|> here: training scores it after each reply); none without a template', () => {
    const withTemplate = tinyFolder(GPT2_RAW, 14);
    const tok = loadTokenizer(withTemplate)!;
    const imEnd = tok.encode('<|im_end|>');
    expect(imEnd).toHaveLength(1);
    expect(new CaseTokenizer(tok, withTemplate, 'x.evals.jsonl', parseConfig(GPT2_RAW)).turnEndIds()).toEqual(imEnd);
    expect(new CaseTokenizer(loadTokenizer(modelDir)!, modelDir, 'x.evals.jsonl', parseConfig(GPT2_RAW)).turnEndIds()).toEqual([]);
  });

  it('a model without a chat template: the messages case errors naming the tokenizer, the prompt case still runs; a prompt past GPT-2\'s positions errors with its token count', async () => {
    const { file, cases } = casesOf([
      { name: 'chat', messages: [{ role: 'user', content: 'hi' }], expect: { contains: ['x'] } },
      { name: 'plain', prompt: 'And the', expect: { notContains: ['zzzz'] }, maxNewTokens: 3 },
      { name: 'long', prompt: 'word '.repeat(80), expect: { contains: ['x'] } },
    ]);
    const report = await runCases({ file, cases, models: [{ label: 'base', kind: 'base', model: modelDir }], backend: BACKEND });
    const [chat, plain, long] = report.outcomes;
    expect(chat.status).toBe('error');
    expect(chat.error).toMatch(/tokenizer/);
    expect(chat.error).toContain(modelDir);
    expect(chat.error).toMatch(/chat_template|template/);
    expect(plain.status).toBe('pass');
    expect(long.status).toBe('error');
    expect(long.error).toMatch(/the prompt is \d+ tokens; .* 64 positions/);
  });

  it('an adapter folder that does not load errors every case of that model, the others run', async () => {
    const { file, cases } = casesOf([{ name: 'plain', prompt: 'And the', expect: { notContains: ['zzzz'] }, maxNewTokens: 2 }]);
    const missing = path.join(os.tmpdir(), 'no-such-adapter-folder');
    const report = await runCases({ file, cases, backend: BACKEND, models: [{ label: 'base', kind: 'base', model: modelDir }, { label: 'adapter', kind: 'adapter', model: modelDir, adapter: missing }] });
    expect(report.outcomes.map((o) => o.status)).toEqual(['pass', 'error']);
    expect(report.outcomes[1].error).toContain(missing);
  });
});

describe('progress and cancel', () => {
  const modelDir = tinyFolder(GPT2_RAW, 13);
  const many = Array.from({ length: 5 }, (_, i) => ({ name: `c${i}`, prompt: `And the ${i}`, expect: { notContains: ['zzzz'] }, maxNewTokens: 2 }));

  it('evaluating phases count outcomes up to cases × models; an abort after the first batch stops the run with an AbortError', async () => {
    const { file, cases } = casesOf(many);
    const models: CaseModel[] = [{ label: 'base', kind: 'base', model: modelDir }, { label: 'again', kind: 'base', model: modelDir }];
    const phases: { done?: number; total?: number }[] = [];
    await runCases({ file, cases, models, backend: BACKEND, batchSize: 2, onPhase: (e) => e.phase === 'evaluating' && phases.push(e) });
    expect(phases.every((p) => p.total === 10 && p.done! <= 10)).toBe(true);
    expect(phases.at(-1)!.done).toBe(10);
    const abort = new AbortController();
    let told = 0;
    const run = runCases({ file, cases, models, backend: BACKEND, batchSize: 2, signal: abort.signal, onOutcome: () => ++told === 2 && abort.abort() });
    await expect(run).rejects.toThrow(/abort/i);
    expect(told).toBe(2);
  });
});

describe('the real sample model (samples/model, 4.3M GPT-2)', () => {
  it('a prompt case generates the greedy output generate() gives, the same on every run', async () => {
    const { file, cases } = casesOf([{ name: 'greedy', prompt: 'Define: Academe\n', expect: { regex: '.' }, maxNewTokens: 12 }]);
    const models: CaseModel[] = [{ label: 'base', kind: 'base', model: SAMPLE }];
    const a = await runCases({ file, cases, models, backend: BACKEND });
    const b = await runCases({ file, cases, models, backend: BACKEND });
    const tok = loadTokenizer(SAMPLE)!;
    const { model } = loadModel(SAMPLE);
    const ref = generate(model, tok.encode('Define: Academe\n'), { maxNewTokens: 12, eosIds: [0] });
    model.dispose();
    expect(a.outcomes[0].output!.ids).toEqual(ref.ids);
    expect(a.outcomes[0].output!.text).toBe(tok.decode(ref.ids, { skipSpecialTokens: true }));
    expect(b.outcomes[0].output!.text).toBe(a.outcomes[0].output!.text);
    expect(a.outcomes[0].output!.text.length).toBeGreaterThan(0);
  });
});
