// The panel's example lists, answered from the run folder (issue 15): one step's examples (the
// step's row of metrics.jsonl, found by a streamed scan that parses only the rows of that step:
// the chart may hold a thinned view without it, and a live run appends behind), and the run's
// hardest training / validation examples and those whose loss went up (core/runs/provenance over
// every row, read in chunks). Each example carries the first characters of its row, read by line
// number (core/runs/fileLines) — the dataset itself never goes to the panel. Opening an example
// opens only the run's own training or validation file; excluding rows goes through the
// loraLab.excludeRows command (the exclusion list, its Undo and the re-lint live there).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as vscode from 'vscode';
import { RunDir, readMetricsViewAsync } from '../core/runs';
import { readEvalExamples } from '../core/runs/evalExamples';
import { readFileLines } from '../core/runs/fileLines';
import { parseRow } from '../core/runs/metrics';
import { lastEpochLosses, lastEvalLosses, provenanceRows, stepExamples, wentUpLosses, type ExampleRef } from '../core/runs/provenance';
import { EXAMPLE_TEXT_CHARS, type ExampleItem, type RunExamplesReply, type StepExamplesReply } from '../protocol/examples';
import { decodeMetricsLine, type StepRow } from '../protocol/metrics';

const METRICS_FILE = 'metrics.jsonl';
const DEFAULT_LIMIT = 10;

/**
 * The step row of `step` in a metrics.jsonl (the last one, as a resumed run's redone step
 * replaces the earlier), or undefined. Streamed line by line; a row written the usual way
 * (`{"type":"step","step":N,…`) is told by its prefix, so only rows of that step are parsed.
 */
export async function readStepRow(file: string, step: number): Promise<StepRow | undefined> {
  let stream: fs.ReadStream;
  try {
    await fs.promises.access(file);
    stream = fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
  } catch {
    return undefined; // no metrics yet
  }
  const prefix = '{"type":"step","step":';
  const mine = `${prefix}${step},`;
  let found: StepRow | undefined;
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line.startsWith(prefix) && !line.startsWith(mine)) continue; // another step
      if (!line.startsWith(mine) && !line.includes('"step"')) continue; // no step key: not a step row
      const row = parseRow(line);
      if (!row || row.type !== 'step' || row.step !== step) continue;
      const d = decodeMetricsLine(row);
      if (d.ok && d.value.type === 'step') found = d.value;
    }
  } finally {
    lines.close();
    stream.destroy();
  }
  return found;
}

/** Each example with the first EXAMPLE_TEXT_CHARS characters of its row (absent where the file or line is gone). */
export async function withText<T extends ExampleRef>(refs: readonly T[]): Promise<(T & { text?: string })[]> {
  const byFile = new Map<string, Set<number>>();
  for (const r of refs) byFile.set(r.file, (byFile.get(r.file) ?? new Set()).add(r.line));
  const texts = new Map<string, Map<number, string>>();
  for (const [file, lines] of byFile) texts.set(file, await readFileLines(file, lines, EXAMPLE_TEXT_CHARS).catch(() => new Map<number, string>()));
  return refs.map((r) => {
    const text = texts.get(r.file)?.get(r.line);
    return text === undefined ? { ...r } : { ...r, text };
  });
}

function item(r: ExampleRef & { text?: string }): ExampleItem {
  const { file, line, loss, step, text } = r;
  return text === undefined ? { file, line, loss, step } : { file, line, loss, step, text };
}

/** The examples of one step of a run, highest loss first, from its metrics.jsonl row. */
export async function stepExamplesOf(runId: string, dir: string, step: number): Promise<StepExamplesReply> {
  const file = RunDir.open(dir).record().dataset.path;
  const row = await readStepRow(path.join(dir, METRICS_FILE), step);
  if (!row) return { runId, step, file, examples: [], note: `Step ${step} has no row in ${METRICS_FILE} (not written yet, or not logged: see report_every).` };
  if (!row.examples || !row.exampleLosses || row.examples.length !== row.exampleLosses.length) {
    return { runId, step, loss: row.loss, file, examples: [], note: `Step ${step}'s row has no examples: the run was trained before LoRA Lab logged which rows each step used.` };
  }
  const examples = await withText(stepExamples({ ...row, examples: row.examples, exampleLosses: row.exampleLosses }, file));
  return { runId, step, loss: row.loss, file, examples: examples.map(item) };
}

/** A run's hardest training examples (last epoch), hardest validation examples (last evaluation) and those whose loss went up, `limit` each. */
export async function runExamplesOf(runId: string, dir: string, limit = DEFAULT_LIMIT): Promise<RunExamplesReply> {
  const trainFile = RunDir.open(dir).record().dataset.path;
  const { rows } = await readMetricsViewAsync(path.join(dir, METRICS_FILE), { all: true });
  const prov = provenanceRows(rows);
  const seen = new Map<number, number>();
  for (const r of prov) for (const line of r.examples) seen.set(line, (seen.get(line) ?? 0) + 1);
  const epochs = Math.max(0, ...seen.values());
  const notes: string[] = [];
  if (prov.length === 0) notes.push(`No training step of this run has per-example losses in ${METRICS_FILE}: it has no step yet, or was trained before LoRA Lab logged them.`);
  else if (epochs < 2) notes.push('Examples whose loss went up need two epochs: each training example has been seen once so far.');
  const valid = lastEvalLosses(readEvalExamples(dir).rows);
  if (valid.length === 0) notes.push('No per-example validation losses (eval-examples.jsonl): the run has no evaluation yet, or predates them.');
  const [hardestTrain, hardestValid, wentUp] = await Promise.all([
    withText(lastEpochLosses(prov, trainFile).slice(0, limit)),
    withText(valid.slice(0, limit)),
    withText(wentUpLosses(prov, trainFile).slice(0, limit)),
  ]);
  return {
    runId, trainFile, epochs, notes,
    hardestTrain: hardestTrain.map(item),
    hardestValid: hardestValid.map(item),
    wentUp: wentUp.map((w) => ({ ...item(w), firstLoss: w.firstLoss, firstStep: w.firstStep })),
  };
}

/** The files of a run the panel may open: its training file and its validation file (run.json). */
export function runFiles(dir: string): string[] {
  const { path: train, validPath } = RunDir.open(dir).record().dataset;
  return validPath ? [train, validPath] : [train];
}

/** Opens an example of a run at its 1-based line; a file that is not the run's training or validation file is refused. */
export async function openExample(dir: string, file: string, line: number): Promise<void> {
  const files = runFiles(dir);
  if (!files.includes(file)) throw new Error(`Not opened: ${file} is not a data file of run ${path.basename(dir)} (${files.join(', ')}).`);
  const at = new vscode.Position(Math.max(0, line - 1), 0);
  await vscode.window.showTextDocument(vscode.Uri.file(file), { selection: new vscode.Range(at, at), viewColumn: vscode.ViewColumn.One, preview: false });
}

/** Adds lines of the run's training file to its exclusion list through loraLab.excludeRows (which confirms, offers Undo and re-lints). */
export async function excludeExamples(dir: string, lines: readonly number[], note: string): Promise<void> {
  const file = RunDir.open(dir).record().dataset.path;
  await vscode.commands.executeCommand('loraLab.excludeRows', file, [...new Set(lines)].sort((a, b) => a - b), note);
}
