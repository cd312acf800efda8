// Model cards (issue 17, item 4): the adapter's README.md written when a run completes, the merged
// model's written by merge (not the base's copied verbatim), the TRL bundle README's source-run
// section. References: the Hub reads README front matter as YAML (base_model, library_name,
// license, tags; parsed here by a reader of the YAML subset the cards use: `key: scalar` and
// `key:` + `- item` lines, scalars as YAML double-quoted/JSON strings); PEFT's own adapter cards
// carry library_name: peft; every fact is checked against run.json / eval.json / adapter_config.json
// of a real 3-step run on test/fixtures/gpt2-tiny, not against literals.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { exportCommand } from '../../src/cli/export';
import { cardLicense } from '../../src/core/hf/modelCard';
import { mergeModelFolder } from '../../src/core/peft/merge';
import { RunDir } from '../../src/core/runs';
import { runSession, type SessionEvent } from '../../src/core/session';
import type { EvalReport } from '../../src/protocol/evaluation';
import type { RunConfig } from '../../src/protocol/runConfig';
import { randomIds } from './helpers/randomModel';

const GPT2 = path.join(__dirname, '..', 'fixtures', 'gpt2-tiny');

/** The YAML subset of the cards' front matter → an object; throws on any other line. */
function frontMatterOf(card: string): Record<string, string | string[]> {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(card);
  if (!m) throw new Error('no front matter');
  const out: Record<string, string | string[]> = {};
  let list: string[] | undefined;
  for (const line of m[1].split('\n')) {
    const item = /^- (.+)$/.exec(line);
    const kv = /^([a-z_]+):(?: (.+))?$/.exec(line);
    if (item && list) list.push(JSON.parse(item[1]) as string);
    else if (kv && kv[2] === undefined) out[kv[1]] = list = [];
    else if (kv) {
      out[kv[1]] = JSON.parse(kv[2]) as string;
      list = undefined;
    } else throw new Error(`not in the YAML subset: ${line}`);
  }
  return out;
}

let ws: string;
let run: RunDir;
beforeAll(async () => {
  ws = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-card-'));
  const rows = randomIds(30, 14, 96, 9).map((ids) => JSON.stringify({ input_ids: ids }));
  fs.writeFileSync(path.join(ws, 'train.jsonl'), rows.slice(0, 24).join('\n') + '\n');
  fs.writeFileSync(path.join(ws, 'valid.jsonl'), rows.slice(24).join('\n') + '\n');
  let fin: Extract<SessionEvent, { type: 'finished' }> | undefined;
  for await (const e of runSession({
    model: GPT2, data: path.join(ws, 'train.jsonl'), workspace: ws, backend: 'wasm', name: 'card run',
    lora: { r: 4, alpha: 12, dropout: 0.05, targetModules: ['c_attn', 'c_proj'], useRslora: true },
    training: { maxSteps: 3, batchSize: 4, learningRate: 3e-3, seed: 11, maxSeqLen: 32 },
  })) if (e.type === 'finished') fin = e;
  expect(fin?.status).toBe('completed');
  run = RunDir.open(fin!.runDir!);
}, 120_000);
afterAll(() => fs.rmSync(ws, { recursive: true, force: true }));

describe('the adapter card (written when a run completes)', () => {
  it('has PEFT-style front matter and the run’s facts: LoRA and training config, dataset sha256, eval.json’s table', () => {
    const card = fs.readFileSync(path.join(run.adapterDir, 'README.md'), 'utf8');
    const adapterConfig = JSON.parse(fs.readFileSync(path.join(run.adapterDir, 'adapter_config.json'), 'utf8')) as { base_model_name_or_path: string; r: number; lora_alpha: number };
    const fm = frontMatterOf(card);
    expect(fm.library_name).toBe('peft');
    expect(fm.base_model).toBe(adapterConfig.base_model_name_or_path);
    expect(fm.tags).toEqual(expect.arrayContaining(['lora-lab', 'lora', 'peft']));
    expect(fm.license).toBeUndefined(); // gpt2-tiny has no card
    const rec = run.record();
    const config = rec.config as RunConfig;
    expect(card).toContain(`| ${adapterConfig.r} | ${adapterConfig.lora_alpha} | ${config.lora.dropout} | c_attn, c_proj | yes (alpha/√r) | all |`);
    expect(card).toContain(`learning rate ${config.training.learningRate}, ${config.training.schedule} schedule`);
    expect(card).toContain(`max_seq_len ${config.training.maxSeqLen}, seed ${config.training.seed}`);
    expect(card).toContain(`${config.training.maxSteps} steps (${rec.summary?.finalStep as number} taken)`);
    expect(card).toContain(`training file \`train.jsonl\`, SHA-256 \`${rec.dataset.sha256}\``);
    expect(card).toContain(`LoRA Lab run \`${rec.id}\` ("card run")`);
    expect(card).toContain(`Made with LoRA Lab ${rec.versions!['lora-lab']}.`);
    const ev = JSON.parse(fs.readFileSync(path.join(run.dir, 'eval.json'), 'utf8')) as EvalReport;
    for (const role of ['base', 'adapter', 'merged'] as const) {
      expect(card).toContain(`| ${role} | ${Number(ev[role]!.loss.toPrecision(4))} | ${Number(ev[role]!.perplexity.toPrecision(4))} |`);
    }
    expect(card).toContain('PeftModel.from_pretrained(base, "path/to/this/folder")');
  });
});

describe('the merged model card (lora-lab merge)', () => {
  it('replaces the base card: transformers front matter, the base card’s license carried, the same facts', () => {
    const base = path.join(ws, 'base-with-card');
    fs.mkdirSync(base);
    for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(GPT2, f), path.join(base, f));
    fs.writeFileSync(path.join(base, 'README.md'), '---\nlicense: apache-2.0\nlanguage:\n- en\n---\n\n# The base model\n\nBase card body.\n');
    const out = path.join(run.dir, 'merged');
    mergeModelFolder({ model: base, adapter: run.adapterDir, out });
    const card = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
    const fm = frontMatterOf(card);
    expect(fm).toMatchObject({ library_name: 'transformers', license: 'apache-2.0' });
    expect(fm.tags).toEqual(expect.arrayContaining(['lora-lab', 'lora', 'merged']));
    expect(card).not.toContain('Base card body.');
    expect(card).toContain(`SHA-256 \`${run.record().dataset.sha256}\``);
    expect(card).toContain('AutoModelForCausalLM.from_pretrained("path/to/this/folder")');
  });

  it('a base without a card and an adapter outside a run: no license, no run sections, no crash', () => {
    const out = path.join(ws, 'merged-bare');
    const adapter = path.join(ws, 'loose-adapter');
    fs.cpSync(run.adapterDir, adapter, { recursive: true });
    mergeModelFolder({ model: GPT2, adapter, out });
    const card = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
    const fm = frontMatterOf(card);
    expect(fm.license).toBeUndefined();
    expect(fm.library_name).toBe('transformers');
    expect(card).toContain('| 4 | 12 |');
    expect(card).not.toContain('## Training');
    expect(card).toContain('Not evaluated yet');
  });

  it('reads a license written quoted or plain, and none without front matter', () => {
    expect(cardLicense('---\nlicense: "mit"\n---\n')).toBe('mit');
    expect(cardLicense('---\ntags:\n- x\nlicense: llama3.1\n---\nbody')).toBe('llama3.1');
    expect(cardLicense('# no front matter\nlicense: mit\n')).toBeUndefined();
  });
});

describe('the TRL bundle README', () => {
  it('carries the same facts about the source run', async () => {
    const bundle = path.join(ws, 'bundle');
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(await exportCommand.run({ run: run.dir, out: bundle, to: 'trl' })).toBe(0);
    } finally {
      log.mockRestore();
    }
    const readme = fs.readFileSync(path.join(bundle, 'README.md'), 'utf8');
    const rec = run.record();
    expect(readme).toContain('# The source run');
    expect(readme).toContain(`SHA-256 \`${rec.dataset.sha256}\``);
    expect(readme).toContain('| 4 | 12 | 0.05 | c_attn, c_proj | yes (alpha/√r) | all |');
    const ev = JSON.parse(fs.readFileSync(path.join(run.dir, 'eval.json'), 'utf8')) as EvalReport;
    expect(readme).toContain(`| base | ${Number(ev.base!.loss.toPrecision(4))} |`);
  });
});
