// `lora-lab examples --run <dir>`: which rows of the data a run trained on and found hard, from
// the provenance in its folder (the `examples`/`exampleLosses` of metrics.jsonl step rows and
// eval-examples.jsonl): one step's examples (--step), the hardest training and validation
// examples (--hardest), or the loss spikes with the examples of each (--spikes). Each example is
// printed as `file:line  loss  <its row's first 80 characters>`, or everything as one JSON
// document with --json.
import * as path from 'node:path';
import { RunDir, readMetricRows } from '../core/runs';
import { readEvalExamples } from '../core/runs/evalExamples';
import { readFileLines } from '../core/runs/fileLines';
import { lastEpochLosses, lastEvalLosses, NoProvenanceError, provenanceRows, spikesWithExamples, stepExamples, type ExampleRef } from '../core/runs/provenance';
import { SPIKE_K, SPIKE_WINDOW } from '../protocol/spikes';
import { CliUsageError, optionalInt, requireString, type CliCommand } from './common';

const TEXT_CHARS = 80;
/** Examples listed under each spike. */
const PER_SPIKE = 3;
const DEFAULT_HARDEST = 10;

type Shown = ExampleRef & { text?: string };

/** The examples with the first TEXT_CHARS characters of their rows, read from their files by line. */
async function withText(refs: ExampleRef[]): Promise<Shown[]> {
  const byFile = new Map<string, Set<number>>();
  for (const r of refs) byFile.set(r.file, (byFile.get(r.file) ?? new Set()).add(r.line));
  const texts = new Map<string, Map<number, string>>();
  for (const [file, lines] of byFile) {
    try {
      texts.set(file, await readFileLines(file, lines, TEXT_CHARS));
    } catch {
      texts.set(file, new Map()); // the file moved or was deleted: lines without text
    }
  }
  return refs.map((r) => {
    const text = texts.get(r.file)?.get(r.line);
    return text === undefined ? r : { ...r, text };
  });
}

function rel(file: string): string {
  const cwd = process.cwd();
  return file.startsWith(cwd + path.sep) ? path.relative(cwd, file) : file;
}

function formatLoss(loss: number | null): string {
  return loss === null ? '     -  ' : loss.toFixed(4).padStart(8);
}

function printExamples(list: Shown[]): void {
  const where = list.map((e) => `${rel(e.file)}:${e.line}`);
  const width = Math.max(0, ...where.map((w) => w.length));
  list.forEach((e, i) => console.log(`${where[i].padEnd(width)}  ${formatLoss(e.loss)}  ${e.text === undefined ? '(line not found)' : e.text.replace(/\s+/g, ' ')}`));
}

function mode(values: Record<string, string | boolean | undefined>): 'step' | 'hardest' | 'spikes' {
  const given = (['step', 'hardest', 'spikes'] as const).filter((k) => values[k] !== undefined && values[k] !== false);
  if (given.length > 1) throw new CliUsageError(`give one of --step, --hardest and --spikes, not ${given.map((g) => `--${g}`).join(' and ')}`);
  return given[0] ?? 'hardest';
}

export const examplesCommand: CliCommand = {
  summary: "A run's examples: a step's rows with their loss, the hardest examples, or the loss spikes and their rows",
  synopsis: '--run <dir> [--step N | --hardest K | --spikes] [--json]',
  options: {
    run: { type: 'string', valueName: 'dir', description: 'The run folder (.lora-lab/runs/<id>)' },
    step: { type: 'string', valueName: 'N', description: "That step's examples, highest loss first" },
    hardest: { type: 'string', valueName: 'K', description: 'The K training examples with the highest loss in their last epoch, and the K hardest validation examples of the last evaluation', default: String(DEFAULT_HARDEST) },
    spikes: { type: 'boolean', description: `Steps whose loss exceeds the median of the previous ${SPIKE_WINDOW} by ${SPIKE_K} robust deviations (1.4826·MAD), with their hardest examples` },
    json: { type: 'boolean', description: 'Print one JSON document' },
  },
  async run(values) {
    const dir = path.resolve(requireString(values, 'run'));
    const which = mode(values);
    const run = RunDir.open(dir);
    const trainFile = run.record().dataset.path;
    const { rows } = readMetricRows(run.metricsPath);
    const prov = provenanceRows(rows);
    if (prov.length === 0) throw new NoProvenanceError(dir);
    const json = values.json === true;

    if (which === 'step') {
      const step = optionalInt(values, 'step', 1)!;
      const row = prov.find((r) => r.step === step);
      if (!row) {
        const steps = prov.map((r) => r.step);
        throw new CliUsageError(`step ${step} has no row with examples in ${run.metricsPath} (steps ${steps[0]}…${steps.at(-1)}${steps.length < steps.at(-1)! - steps[0] + 1 ? ', not every step is logged: see report_every' : ''})`);
      }
      const list = await withText(stepExamples(row, trainFile));
      if (json) console.log(JSON.stringify({ run: dir, step, loss: row.loss, examples: list }, null, 2));
      else {
        console.log(`step ${step}: loss ${row.loss.toFixed(4)}, ${list.length} examples (highest loss first)`);
        printExamples(list);
      }
      return 0;
    }

    if (which === 'spikes') {
      const spikes = spikesWithExamples(rows, trainFile);
      const shown = await Promise.all(spikes.map(async (s) => ({ ...s, examples: await withText(s.examples.slice(0, PER_SPIKE)) })));
      const rule = { k: SPIKE_K, window: SPIKE_WINDOW, rule: `loss > median + ${SPIKE_K}·1.4826·MAD of the previous ${SPIKE_WINDOW} steps` };
      if (json) console.log(JSON.stringify({ run: dir, ...rule, spikes: shown }, null, 2));
      else {
        console.log(`${shown.length} spike${shown.length === 1 ? '' : 's'} (${rule.rule})`);
        for (const s of shown) {
          console.log(`\nstep ${s.step}: loss ${s.loss.toFixed(4)} (median ${s.median.toFixed(4)}, threshold ${s.threshold.toFixed(4)}, ${Number.isFinite(s.score) ? s.score.toFixed(1) : '∞'} deviations)`);
          printExamples(s.examples);
        }
      }
      return 0;
    }

    const k = optionalInt(values, 'hardest', 1) ?? DEFAULT_HARDEST;
    const train = await withText(lastEpochLosses(prov, trainFile).slice(0, k));
    const evalRows = readEvalExamples(dir).rows;
    const valid = await withText(lastEvalLosses(evalRows).slice(0, k));
    if (json) console.log(JSON.stringify({ run: dir, train, valid }, null, 2));
    else {
      console.log(`hardest training examples (loss in their last epoch):`);
      printExamples(train);
      console.log('');
      if (valid.length === 0) console.log('no per-example validation losses (eval-examples.jsonl): the run has no evaluation, or predates them');
      else {
        console.log(`hardest validation examples (evaluation at step ${valid[0].step}):`);
        printExamples(valid);
      }
    }
    return 0;
  },
};
