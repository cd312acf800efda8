// Short labels that tell runs apart at a glance: for the runs shown together (the Runs table, the
// chart's legend, Compare, the quick picks), what differs among their resolved configurations,
// e.g. "r16 α32 lr5e-3 all-linear devil.jsonl". Fields are walked from the run-config table
// (RUN_FIELDS), the common ones under short names; the run's own name, when the user gave one,
// comes first; when nothing differs the label falls back to the name or the creation time. A run
// another engine trained (run.json `source`, e.g. TRL through `lora-lab import`) says so in its label.
// Pure and DOM-free: the webview bundle imports it.
import { ALL_LINEAR, getField, RUN_FIELDS, type RunConfig, type RunField } from './runConfig';
import type { RunSource } from './runRecord';

export interface LabelledRun {
  /** The run folder's name: `<yyyymmdd-hhmmss>-<name>` for runs LoRA Lab created. */
  id: string;
  /** run.json's name (the id when none was given). */
  name?: string;
  /** The resolved configuration (run.json `config` through decodeRunConfig, targets spelled out where known). */
  config?: RunConfig;
  /** The dataset file (run.json `dataset.path`), used when `config` is absent. */
  dataset?: string;
  /** The base model folder (run.json `model.path`), used when `config` is absent. */
  model?: string;
  /** run.json's `source`: absent for LoRA Lab's own runs; the engine of an imported one. */
  source?: RunSource;
}

/** How a label names the engine of an imported run. */
export const SOURCE_NAMES: Readonly<Record<RunSource, string>> = { trl: 'TRL' };

/**
 * A label with the engine of an imported run: "r16 (TRL)", unless the label names it already
 * (`lora-lab import`'s default run name is "<source run id> (TRL)"). LoRA Lab's own runs: as is.
 */
export function withSource(label: string, source: RunSource | undefined): string {
  if (source === undefined) return label;
  const name = SOURCE_NAMES[source];
  return new RegExp(`\\b${name}\\b`).test(label) ? label : `${label} (${name})`;
}

/** Short prefixes of the common fields ("r16", "α32", "lr5e-3"); other fields read `key=value`. */
const SHORT: Readonly<Record<string, string>> = {
  'lora.r': 'r',
  'lora.alpha': 'α',
  'training.learningRate': 'lr',
  'training.epochs': 'ep',
  'training.maxSteps': 'steps',
  'training.batchSize': 'batch',
  'training.maxSeqLen': 'seq',
  'training.loraplusLrRatio': 'LoRA+',
};

/** Switches by the name people know them by: "DoRA" / "no DoRA"; others read their key ("no groupByLength"). */
const SWITCH: Readonly<Record<string, string>> = {
  'lora.useRslora': 'rsLoRA',
  'lora.useDora': 'DoRA',
  'training.baseDropout': 'base dropout',
};

/** Fields whose value alone says what it is ("pissa_niter_4", not "init=pissa_niter_4"). */
const BARE: ReadonlySet<string> = new Set(['lora.init', 'training.schedule']);

/** Fields that say nothing about the experiment (where it ran, how often it logged): never in a label. */
const SKIP: ReadonlySet<string> = new Set(['run.backend', 'run.threads', 'run.memoryLimitBytes', 'training.reportEvery', 'dataOptions.maxRowBytes', 'dataOptions.badRows']);

const pathKey = (f: RunField) => `${f.group}.${f.key}`;

/** The fields people vary most, first in a label ("r16 α32 lr5e-3 all-linear …"); the rest in table order. */
const FIRST = ['lora.r', 'lora.alpha', 'training.learningRate', 'lora.targetModules'];
const LABEL_FIELDS: readonly RunField[] = [
  ...FIRST.map((k) => RUN_FIELDS.find((f) => pathKey(f) === k)!),
  ...RUN_FIELDS.filter((f) => !FIRST.includes(pathKey(f)) && !SKIP.has(pathKey(f))),
];

/** The last segment of a path, either separator. */
function baseName(p: string): string {
  const parts = p.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? p;
}

/** 0.005 → "5e-3", 0.0002 → "2e-4", 0.1 → "0.1": learning rates as people write them. */
export function shortNumber(n: number): string {
  if (n === 0 || !Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1e-2 && a < 1e5) return String(Number(n.toPrecision(4)));
  const [m, e] = n.toExponential().split('e');
  return `${Number(Number(m).toPrecision(3))}e${Number(e)}`;
}

/** One field's value as it reads in a label; undefined stays its own value ("default"). */
function valueText(f: RunField, v: unknown): string {
  if (v === undefined || v === null) return f.kind === 'modules' ? 'default targets' : 'default';
  if (Array.isArray(v)) return f.kind === 'modules' ? [...v].map(String).sort().join(',') : v.join(',');
  if (typeof v === 'number') return shortNumber(v);
  return String(v);
}

/** A field's part of a label; '' for an unset optional field (its absence says it). */
function part(f: RunField, v: unknown): string {
  if ((v === undefined || v === null) && f.kind !== 'modules') return '';
  const text = valueText(f, v);
  if (f.kind === 'modules') return text === ALL_LINEAR ? ALL_LINEAR : text;
  if (f.kind === 'boolean') {
    const name = SWITCH[pathKey(f)] ?? f.key;
    return v ? name : `no ${name}`;
  }
  if (BARE.has(pathKey(f))) return text;
  const short = SHORT[pathKey(f)];
  return short !== undefined ? `${short}${text}` : `${f.key}=${text}`;
}

/** "2025-03-01 10:15" from a folder id "20250301-101500-…", else undefined. */
function idTime(id: string): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})/.exec(id);
  return m ? `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}` : undefined;
}

/** The user's name for a run, when it is not just the id (or the id's suffix). */
function givenName(r: LabelledRun): string | undefined {
  // run.json's name defaults to the dataset's file name (core/session.ts); config.name is the user's.
  const n = r.config ? r.config.name : r.name !== r.id && r.name !== baseName(r.dataset ?? '') ? r.name : undefined;
  return n || undefined;
}

/**
 * One label per run (in the order given): the user's name if set, then each field whose value is
 * not the same for every run shown, then the dataset and model files where they differ. With one
 * run, or runs that differ in nothing, the name or the creation time is the label (the id last);
 * labels that would still be equal get the creation time. An imported run's ends with its engine
 * ("(TRL)", withSource), so it never reads as a run LoRA Lab trained.
 */
export function runLabels(runs: readonly LabelledRun[]): string[] {
  const parts: string[][] = runs.map(() => []);
  if (runs.length > 1) {
    const columns: { texts: string[] }[] = [];
    for (const f of LABEL_FIELDS) {
      const values = runs.map((r) => (r.config ? getField(r.config, f) : undefined));
      if (runs.some((r) => !r.config)) continue; // an unreadable config: nothing to compare this field with
      const texts = values.map((v) => valueText(f, v));
      if (texts.every((t) => t === texts[0])) continue;
      columns.push({ texts: values.map((v) => part(f, v)) });
    }
    for (const file of [(r: LabelledRun) => r.config?.data ?? r.dataset, (r: LabelledRun) => r.config?.valid, (r: LabelledRun) => r.config?.model ?? r.model]) {
      const paths = runs.map(file);
      if (paths.every((p) => p === paths[0])) continue;
      const names = paths.map((p) => (p ? baseName(p) : '–'));
      // Same file name in other folders: the parent folder too ("a/train.jsonl" vs "b/train.jsonl").
      const clash = new Set(names).size < new Set(paths).size;
      columns.push({ texts: paths.map((p, i) => (p && clash ? p.split(/[\\/]/).filter(Boolean).slice(-2).join('/') : names[i])) });
    }
    for (const c of columns) c.texts.forEach((t, i) => t && parts[i].push(t));
  }
  const labels = runs.map((r, i) => {
    const name = givenName(r);
    const head = name ? [name] : [];
    if (parts[i].length) return [...head, ...parts[i]].join(' ');
    return name ?? idTime(r.id) ?? r.id;
  });
  // Runs alike in everything shown (a repeat of the same config): their creation time tells them apart.
  const count = new Map<string, number>();
  for (const l of labels) count.set(l, (count.get(l) ?? 0) + 1);
  return labels.map((l, i) => {
    if (count.get(l)! < 2) return withSource(l, runs[i].source);
    const t = idTime(runs[i].id) ?? runs[i].id;
    return withSource(l === t ? runs[i].id : `${l} · ${t}`, runs[i].source);
  });
}

/** Labels keyed by run id. */
export function runLabelMap(runs: readonly LabelledRun[]): Map<string, string> {
  const labels = runLabels(runs);
  return new Map(runs.map((r, i) => [r.id, labels[i]]));
}
