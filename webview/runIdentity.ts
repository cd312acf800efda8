// How the panel names and colours runs: labels with what differs among the runs shown
// (src/protocol/runLabels.ts), from each run's summary (the Runs list, or the detail of a run not
// listed yet), and one colour per run (runColors.ts). Pure: unit-tested.
import type { RunSummary } from '../src/protocol/panel';
import { runLabelMap, SOURCE_NAMES, type LabelledRun } from '../src/protocol/runLabels';
import type { State } from './store';

function labelled(id: string, summary: RunSummary | undefined): LabelledRun {
  return summary ? { id, name: summary.name, config: summary.config, dataset: summary.dataset, model: summary.model, source: summary.source } : { id };
}

/** The summary of run `id`: its row of the Runs list, else its loaded detail's. */
export function summaryOf(s: Pick<State, 'runs' | 'runData'>, id: string): RunSummary | undefined {
  return s.runs.find((r) => r.id === id) ?? s.runData[id]?.detail?.summary;
}

/** Labels of the runs `ids`, telling them apart from each other. */
export function labelsOf(s: Pick<State, 'runs' | 'runData'>, ids: readonly string[]): Map<string, string> {
  return runLabelMap(ids.map((id) => labelled(id, summaryOf(s, id))));
}

/** The Runs table's mark for a run another engine trained (run.json `source`); undefined for LoRA Lab's own. */
export function sourceBadge(r: Pick<RunSummary, 'source'>): { text: string; title: string } | undefined {
  if (r.source === undefined) return undefined;
  const name = SOURCE_NAMES[r.source];
  return { text: name, title: `Trained with ${name} (the exported bundle's train.py) and brought back by lora-lab import; not a LoRA Lab run` };
}

/** Labels of a list of summaries (the Runs table). */
export function labelsOfSummaries(runs: readonly RunSummary[]): Map<string, string> {
  return runLabelMap(runs.map((r) => labelled(r.id, r)));
}
