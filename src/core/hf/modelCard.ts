// Hugging Face model cards (README.md): YAML front matter as the Hub reads it (base_model,
// library_name, tags, license) and a body of facts about a LoRA Lab run: the adapter's
// configuration, the training configuration, the dataset file and its SHA-256, the evaluation
// table (eval.json), the LoRA Lab version. Pure text from plain facts; the merged model's and the
// adapter's cards are assembled in src/core/peft/modelCard.ts, the TRL bundle's README uses
// factsMarkdown (src/core/export/launchFiles.ts).
import type { EvalReport, ModelRole } from '../../protocol/evaluation';
import type { RunConfig } from '../../protocol/runConfig';
import type { RunRecord } from '../../protocol/runRecord';

/** What a card says about one adapter or merged model; every field from the run, the adapter or eval.json. */
export interface CardFacts {
  /** The base model as the adapter names it (Hub id or folder). */
  baseModel: string;
  /** The base card's license (its front matter), carried to the derived model. */
  license?: string;
  lora?: { r: number; alpha: number; dropout: number; targets: string[] | string; rslora: boolean; dora?: boolean; layers?: number[]; rankPattern?: Record<string, number>; alphaPattern?: Record<string, number> };
  training?: {
    learningRate: number; schedule: string; warmup: string; steps: string; batchSize: number; gradientAccumulation: number;
    maxSeqLen: number; seed: number; weightDecay: number;
    /** LoRA+: B's learning rate ÷ A's (PEFT's create_loraplus_optimizer); absent: one rate. */
    loraplusLrRatio?: number;
  };
  dataset?: { file: string; sha256: string; validFile?: string; validSha256?: string };
  run?: { id: string; name: string; source?: string };
  evaluation?: { examples: number; data: string; scores: { role: ModelRole; loss: number; perplexity: number; accuracy: number; tokens: number }[] };
  /** The LoRA Lab version that trained the run (run.json), else this one. */
  version: string;
}

/** The last segment of a path, either separator. */
function fileName(p: string): string {
  return p.split(/[\\/]/).filter(Boolean).pop() ?? p;
}

/** Training and data facts from a run record (its config decoded by the caller), and scores from its eval.json. */
export function runFacts(record: RunRecord, config: RunConfig | undefined, report?: EvalReport): Pick<CardFacts, 'training' | 'dataset' | 'run' | 'evaluation'> & { version?: string } {
  const out: ReturnType<typeof runFacts> = {
    run: { id: record.id, name: record.name, ...(record.source ? { source: record.source } : {}) },
    dataset: { file: fileName(record.dataset.path), sha256: record.dataset.sha256, ...(record.dataset.validPath ? { validFile: fileName(record.dataset.validPath), validSha256: record.dataset.validSha256 } : {}) },
    version: record.versions?.['lora-lab'],
  };
  if (config) {
    const t = config.training;
    const finalStep = typeof record.summary?.finalStep === 'number' ? ` (${record.summary.finalStep} taken)` : '';
    out.training = {
      learningRate: t.learningRate, schedule: t.schedule, warmup: t.warmupSteps !== undefined ? `${t.warmupSteps} steps` : `${t.warmupRatio} of the steps`,
      steps: `${t.maxSteps !== undefined ? `${t.maxSteps} steps` : `${t.epochs} epoch(s)`}${finalStep}`, batchSize: t.batchSize,
      gradientAccumulation: t.gradientAccumulation, maxSeqLen: t.maxSeqLen, seed: t.seed, weightDecay: t.weightDecay,
      ...(t.loraplusLrRatio !== undefined && { loraplusLrRatio: t.loraplusLrRatio }),
    };
  }
  if (report) {
    const scores = (['base', 'adapter', 'merged'] as const).flatMap((role) => {
      const s = report[role];
      return s ? [{ role, loss: s.loss, perplexity: s.perplexity, accuracy: s.accuracy, tokens: s.tokens }] : [];
    });
    if (scores.length) out.evaluation = { examples: report.examples, data: report.sources.data ?? "the run's validation examples", scores };
  }
  return out;
}

/** The `license:` of a card's front matter (quotes removed), or undefined. */
export function cardLicense(card: string): string | undefined {
  const fm = /^---\r?\n([\s\S]*?)\r?\n---/.exec(card.replace(/^\uFEFF/, ''));
  const m = fm && /^license:[ \t]*(.+?)[ \t]*$/m.exec(fm[1]);
  if (!m) return undefined;
  const v = m[1].replace(/^(["'])(.*)\1$/, '$2').trim();
  return v || undefined;
}

/** YAML front matter: strings double-quoted (JSON escapes are YAML's), lists one item a line. */
export function frontMatter(fields: Record<string, string | string[] | undefined>): string {
  const lines = ['---'];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) lines.push(`${k}:`, ...v.map((x) => `- ${JSON.stringify(x)}`));
    else lines.push(`${k}: ${JSON.stringify(v)}`);
  }
  lines.push('---', '');
  return lines.join('\n');
}

const num = (x: number, digits = 4) => (Number.isFinite(x) ? String(Number(x.toPrecision(digits))) : String(x));

/** The facts as Markdown sections (## level), shared by the merged card, the adapter card and the bundle README. */
export function factsMarkdown(f: CardFacts): string {
  const out: string[] = [];
  if (f.lora) {
    const l = f.lora;
    out.push('## LoRA configuration', '', '| r | alpha | dropout | target modules | rsLoRA | layers |', '| --- | --- | --- | --- | --- | --- |',
      `| ${l.r} | ${l.alpha} | ${l.dropout} | ${Array.isArray(l.targets) ? l.targets.join(', ') : l.targets} | ${l.rslora ? 'yes (alpha/√r)' : 'no (alpha/r)'} | ${l.layers?.join(', ') ?? 'all'} |`, '');
    if (l.dora) out.push("DoRA (PEFT's `use_dora`): each adapted module also trains a magnitude per output (`lora_magnitude_vector`).", '');
    for (const [name, p] of [['rank_pattern (r)', l.rankPattern], ['alpha_pattern (alpha)', l.alphaPattern]] as const) {
      if (p) out.push(`Per module, ${name}: ${Object.entries(p).map(([k, v]) => `\`${k}\` → ${v}`).join(', ')} (the first matching key wins).`, '');
    }
  }
  if (f.training) {
    const t = f.training;
    out.push('## Training', '', `- learning rate ${t.learningRate}, ${t.schedule} schedule, warm-up ${t.warmup}, weight decay ${t.weightDecay}${t.loraplusLrRatio !== undefined ? `; LoRA+: B's learning rate × ${t.loraplusLrRatio} (PEFT's create_loraplus_optimizer)` : ''}`,
      `- ${t.steps}; batch ${t.batchSize} × gradient accumulation ${t.gradientAccumulation} = ${t.batchSize * t.gradientAccumulation} examples per step`,
      `- max_seq_len ${t.maxSeqLen}, seed ${t.seed}`);
    if (f.run) out.push(`- LoRA Lab run \`${f.run.id}\`${f.run.name !== f.run.id ? ` ("${f.run.name}")` : ''}${f.run.source ? `, trained with ${f.run.source.toUpperCase()} and imported` : ''}`);
    out.push('');
  }
  if (f.dataset) {
    const d = f.dataset;
    out.push('## Data', '', `- training file \`${d.file}\`, SHA-256 \`${d.sha256}\``);
    if (d.validFile) out.push(`- validation file \`${d.validFile}\`${d.validSha256 ? `, SHA-256 \`${d.validSha256}\`` : ''}`);
    out.push('');
  }
  if (f.evaluation) {
    const e = f.evaluation;
    out.push('## Evaluation', '', `${e.examples} validation examples (${e.data}); loss is the mean per loss token.`, '',
      '| model | loss | perplexity | accuracy | tokens |', '| --- | --- | --- | --- | --- |',
      ...e.scores.map((s) => `| ${s.role} | ${num(s.loss)} | ${num(s.perplexity)} | ${num(s.accuracy * 100, 3)}% | ${s.tokens} |`), '');
  } else {
    out.push('## Evaluation', '', 'Not evaluated yet (no eval.json in the run): `lora-lab eval --run <run folder> --out <run folder>/eval.json`.', '');
  }
  out.push(`Made with LoRA Lab ${f.version}.`, '');
  return out.join('\n');
}
