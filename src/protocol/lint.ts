// Dataset lint as it crosses process boundaries: what `lora-lab lint --json` prints, what the lint
// process sends the extension (diagnostics for the Problems panel, the summary for the CodeLens and
// the panel) and how a row looks to the model (the hover). Plain data; the logic is in src/core/lint.

export type LintSeverity = 'error' | 'warning' | 'info';

/**
 * Each diagnostic's code, by severity. Errors are what training refuses (it would stop on them);
 * warnings train but are probably not what the user meant; info describes the file.
 */
export const LINT_CODES = {
  // errors
  'file': 'error', // the file cannot be read as a dataset at all (missing, binary, empty, unsupported kind, …)
  'syntax': 'error', // bad JSON / CSV syntax in a row
  'invalid-utf8': 'error',
  'row-too-long': 'error', // over the row byte limit
  'unknown-shape': 'error', // a row with none of the formats' fields
  'missing-field': 'error',
  'wrong-type': 'error',
  'empty-field': 'error',
  'unknown-role': 'error',
  'no-assistant': 'error',
  'out-of-vocab': 'error',
  'too-short': 'error', // fewer than 2 tokens
  'no-loss': 'error', // no token carries loss (e.g. the completion cut entirely by max_seq_len)
  'template': 'error', // the chat template fails on the row
  'row': 'error', // any other row problem training refuses
  // warnings
  'truncated': 'warning',
  'empty-assistant': 'warning',
  'duplicate': 'warning',
  'leak': 'warning',
  'template-drops-content': 'warning',
  'eos-in-text': 'warning',
  'no-eos': 'warning',
  'ids-no-eos': 'warning',
  'exclusions-stale': 'warning', // the dataset changed since its exclusion list was written
  // info
  'summary': 'info',
  'excluded': 'info', // rows the exclusion list leaves out
} as const satisfies Record<string, LintSeverity>;

export type LintCode = keyof typeof LINT_CODES;

/** An edit that fixes a diagnostic for certain: remove one row (a duplicate, a leaked validation row). */
export interface LintFix {
  title: string;
  /** The file to edit and the 1-based lines the row spans (inclusive). */
  file: string;
  deleteLines: { from: number; to: number };
}

export interface LintDiagnostic {
  file: string;
  /** 1-based line of the row (for a multi-line CSV record or JSON array element: its first line). */
  line: number;
  /** 1-based, when the problem is at a known column. */
  column?: number;
  /** Last line of the row when it spans several. */
  endLine?: number;
  severity: LintSeverity;
  code: LintCode;
  message: string;
  /** Other places this diagnostic is about (the earlier duplicate, the other file's copy). */
  related?: { file: string; line: number; message: string }[];
  fix?: LintFix;
}

export interface LengthStats {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** What one file gives, as training would see it. */
export interface LintFileSummary {
  file: string;
  /** Detected row format; undefined when the file could not be read far enough to tell. */
  format?: string;
  rows: number;
  /** Rows training would keep (rows with an error are not). */
  examples: number;
  errors: number;
  warnings: number;
  /** Token counts of the rows before truncation (undefined without a tokenizer, except for input_ids). */
  tokens?: {
    total: number;
    /** Tokens kept after truncation to max_seq_len. */
    kept: number;
    /** Kept tokens that carry loss. */
    loss: number;
    /** Loss tokens the truncation drops. */
    lossDropped: number;
    /** Rows longer than max_seq_len. */
    overMaxLen: number;
    /** Per-row lengths before truncation. */
    lengths: LengthStats;
  };
  duplicates: number;
  /** Training rows also in the validation file (counted in the training file's summary). */
  leaked: number;
  /** Rows left out by the file's exclusion list (`<file>.lora-lab-exclude.json`): not checked, not trained on. */
  excluded?: number;
}

export interface LintSummary {
  files: LintFileSummary[];
  maxSeqLen: number;
  /** The model folder whose tokenizer was used, if any. */
  model?: string;
  /** What the token-level checks could not do (no model given, no tokenizer in it). */
  skipped?: string;
  errors: number;
  warnings: number;
  /** Diagnostics left out of `diagnostics` (more than the cap per code and file); counted in errors/warnings. */
  omitted: number;
  seconds: number;
}

export interface LintReport {
  diagnostics: LintDiagnostic[];
  summary: LintSummary;
}

/** A row as the model sees it: for the hover. */
export interface RowView {
  file: string;
  line: number;
  endLine: number;
  format: string;
  /** The text the model is trained on (the chat template applied), before truncation. */
  rendered: string;
  /** Each token: its text, whether it carries loss, and whether max_seq_len cuts it. */
  tokens: { text: string; loss: boolean; cut: boolean }[];
  /** Tokens before truncation, and the limit. */
  total: number;
  maxSeqLen: number;
  /** Problems training has with the row (as in the lint). */
  problems: string[];
}

/** The one-line description of a file summary (CodeLens, the panel, the CLI). */
export function describeFileSummary(s: LintFileSummary, maxSeqLen: number): string {
  const parts = [`${s.rows.toLocaleString('en-US')} row${s.rows === 1 ? '' : 's'}${s.format ? ` (${s.format})` : ''}`];
  if (s.tokens) {
    parts.push(`${s.tokens.total.toLocaleString('en-US')} tokens`);
    const over = s.rows > 0 ? (100 * s.tokens.overMaxLen) / s.rows : 0;
    parts.push(`${over.toFixed(over > 0 && over < 1 ? 1 : 0)}% over ${maxSeqLen}`);
    const share = s.tokens.kept > 0 ? (100 * s.tokens.loss) / s.tokens.kept : 0;
    parts.push(`${share.toFixed(0)}% of tokens carry loss`);
  }
  if (s.excluded) parts.push(`${s.excluded.toLocaleString('en-US')} excluded`);
  parts.push(s.errors === 0 && s.warnings === 0 ? 'no problems' : `${s.errors} error${s.errors === 1 ? '' : 's'}, ${s.warnings} warning${s.warnings === 1 ? '' : 's'}`);
  return parts.join(' · ');
}

// --- The lint process (src/worker/lintServer.ts) and its client (src/host/lintClient.ts) ----------

/** What the linting needs to know besides the file: the model and the training settings that matter. */
export interface LintSettings {
  /** Model folder (tokenizer, chat template, vocab_size); undefined: structure only. */
  model?: string;
  maxSeqLen: number;
  maxRowBytes?: number;
  columns?: { text?: string; prompt?: string; completion?: string };
}

export type LintRequest =
  | { type: 'lint'; id: number; file: string; validFile?: string | false; settings: LintSettings }
  /** The row at `line` (for JSON Lines, `text` is the line as the editor has it, saved or not). */
  | { type: 'row'; id: number; file: string; line: number; text?: string; settings: LintSettings }
  | { type: 'cancel'; id: number };

export type LintResponse =
  | { type: 'lint'; id: number; report: LintReport }
  | { type: 'row'; id: number; view: RowView | null }
  | { type: 'error'; id: number; message: string };

/** A response from the lint process, checked enough to route it (the process is ours). */
export function decodeLintResponse(m: unknown): LintResponse | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const r = m as { type?: unknown; id?: unknown };
  if (typeof r.id !== 'number') return undefined;
  if (r.type === 'lint' && typeof (m as { report?: unknown }).report === 'object') return m as LintResponse;
  if (r.type === 'row' && 'view' in (m as object)) return m as LintResponse;
  if (r.type === 'error' && typeof (m as { message?: unknown }).message === 'string') return m as LintResponse;
  return undefined;
}
