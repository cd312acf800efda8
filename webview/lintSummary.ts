// The dataset lint as the Configure section shows it, as data: the counts, one line per file (the
// dataset, its validation file), the first errors each with ONE `file:line` link (the message
// without the path), and why Start waits. Pure: the view renders it, vitest checks it.
import { describeFileSummary } from '../src/protocol/lint';
import { messageBesideLink, shownPath, type DatasetLintState, type FormState } from '../src/protocol/panel';
import { parseFieldText, runField } from '../src/protocol/runConfig';
import type { FormDraft } from './formModel';

export interface LintLink {
  file: string;
  line: number;
  /** `train.csv:5`: the path relative to the workspace folder when inside it. */
  text: string;
  /** The message without a leading `<file>:<line>: `. */
  message: string;
}

export interface LintSummaryView {
  status: DatasetLintState['status'];
  /** "1 error · 2 warnings", "no problems"; undefined before the first result. */
  counts?: string;
  errors: number;
  warnings: number;
  files: { role: 'training' | 'validation'; path: string; text: string }[];
  links: LintLink[];
  /** Errors not listed (the Problems panel has them). */
  moreErrors: number;
  /** What the token checks could not do (no tokenizer), the lint being off or failed. */
  notes: string[];
}

const plural = (n: number, word: string) => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;

/** The lint of the form's dataset, as shown; undefined when there is none for it (the form's own dataset summary is shown then). */
export function lintSummaryView(lint: DatasetLintState | undefined, dataset: string): LintSummaryView | undefined {
  if (!lint || lint.dataset !== dataset) return undefined;
  const s = lint.summary;
  const notes = [lint.note, s?.skipped && `Token checks skipped: ${s.skipped}`].filter((n): n is string => !!n);
  if (!s) return { status: lint.status, errors: 0, warnings: 0, files: [], links: [], moreErrors: 0, notes };
  const links = (lint.errors ?? []).map((d) => ({
    file: d.file, line: d.line, text: `${shownPath(d.file, lint.workspace)}:${d.line}`, message: messageBesideLink(d.message, d.file, lint.workspace),
  }));
  return {
    status: lint.status,
    counts: s.errors === 0 && s.warnings === 0 ? 'no problems' : `${plural(s.errors, 'error')} · ${plural(s.warnings, 'warning')}`,
    errors: s.errors,
    warnings: s.warnings,
    files: s.files.map((f) => ({
      role: f.file === lint.dataset ? 'training' : 'validation',
      path: shownPath(f.file, lint.workspace),
      text: describeFileSummary(f, s.maxSeqLen),
    })),
    links,
    moreErrors: Math.max(0, s.errors - links.length),
    notes,
  };
}

/** Why Start is disabled by the lint: the latest lint of the form's dataset (done, or re-checking) has errors. */
export function lintBlocksStart(lint: DatasetLintState | undefined, dataset: string): string | undefined {
  const n = lint?.dataset === dataset ? (lint.summary?.errors ?? 0) : 0;
  if (n === 0) return undefined;
  const again = lint?.status === 'checking' ? ' (checking again…)' : '';
  return `The dataset has ${plural(n, 'error')} that training would refuse${again}: fix ${n === 1 ? 'it' : 'them'} and save the file to start.`;
}

/** The draft's max_seq_len when it is a valid one for the model (the lint is run with it); undefined while it is not. */
export function draftMaxSeqLen(draft: Pick<FormDraft, 'maxSeqLen'>, form: Pick<FormState, 'modelSpec'>): number | undefined {
  const parsed = parseFieldText(runField('training', 'maxSeqLen'), draft.maxSeqLen.trim());
  if (typeof parsed !== 'object' || typeof parsed.value !== 'number') return undefined;
  return parsed.value <= form.modelSpec.maxPositions ? parsed.value : undefined;
}
