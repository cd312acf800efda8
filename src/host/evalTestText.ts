// What the Test Explorer says about evaluation cases (issue 16), as plain text: a case's state over
// its models, the message of a failed or errored outcome (expected vs got, the generated text), the
// expected/actual pair of an `equals` diff, and the pass/fail matrix (cases × models) written to
// the test run's output. No vscode import: src/host/evalTests.ts wraps these in TestMessages, and
// vitest checks them as they are.
import { matrixText, tally, type CaseOutcome, type CasesReport, type CaseStatus, type EvalCase } from '../protocol/evalCases';

/** A case's own state from its models' outcomes: passed only when every one passed (skips aside). */
export function rollup(statuses: readonly CaseStatus[]): CaseStatus {
  if (statuses.includes('error')) return 'error';
  if (statuses.includes('fail')) return 'fail';
  if (statuses.length > 0 && statuses.every((s) => s === 'skip')) return 'skip';
  return 'pass';
}

const MARK: Record<CaseStatus, string> = { pass: '✓', fail: '✗', skip: '–', error: '!' };

/** One line per outcome as it arrives: `✗ name [adapter] 812 ms: contains "Cynic" — got "…"`. */
export function outcomeLine(o: CaseOutcome): string {
  const ms = o.output ? ` ${Math.round(o.output.ms)} ms` : '';
  const failed = o.checks.filter((c) => c.status === 'fail').map((c) => `${c.expected}, got ${c.actual}`);
  const why = o.status === 'error' ? `: ${o.error ?? 'error'}` : failed.length ? `: ${failed.join('; ')}` : '';
  return `${MARK[o.status]} ${o.case} [${o.model}]${ms}${why}`;
}

/** The generated text as a message quotes it: the text, or a note that it is empty. */
function generated(o: CaseOutcome): string[] {
  if (!o.output) return [];
  const stop = o.output.stop === 'eos' ? 'stopped at end of sequence' : o.output.stop === 'max-new-tokens' ? 'stopped at maxNewTokens' : "stopped at the model's last position";
  return ['', `Generated (${o.output.ids.length} tokens, ${stop}):`, o.output.text === '' ? '(empty)' : o.output.text];
}

/**
 * The message of an outcome that did not pass: for an error, what went wrong; for a failure, each
 * failed check (expected vs got, and why) but `equals` when `withoutEquals` (it gets its own diff),
 * then the generated text and the losses when a loss check ran. Undefined for pass and skip.
 */
export function failureText(o: CaseOutcome, withoutEquals = false): string | undefined {
  if (o.status === 'error') return `${o.case} could not run on ${o.model}: ${o.error ?? 'unknown error'}`;
  if (o.status !== 'fail') return undefined;
  const failed = o.checks.filter((c) => c.status === 'fail' && !(withoutEquals && c.kind === 'equals'));
  const lines = failed.map((c) => `✗ ${c.kind}: expected ${c.expected}, got ${c.actual}${c.message ? ` (${c.message})` : ''}`);
  if (withoutEquals && lines.length === 0) return undefined;
  const passed = o.checks.filter((c) => c.status === 'pass').map((c) => c.kind);
  if (passed.length) lines.push(`✓ ${passed.join(', ')}`);
  if (o.loss !== undefined) lines.push(`loss of the completion ${o.loss.toFixed(3)}${o.baseLoss !== undefined ? ` (base ${o.baseLoss.toFixed(3)})` : ''}${o.lossTokens !== undefined ? ` over ${o.lossTokens} tokens` : ''}`);
  return [`${o.case} failed on ${o.model}:`, ...lines, ...generated(o)].join('\n');
}

/** For a failed `equals`: the expected and generated text as the check compares them (trimmed), for a diff. */
export function equalsDiff(c: EvalCase | undefined, o: CaseOutcome): { message: string; expected: string; actual: string } | undefined {
  const check = o.checks.find((k) => k.kind === 'equals' && k.status === 'fail');
  if (!check || c?.expect.equals === undefined || !o.output) return undefined;
  return { message: `${o.case} on ${o.model}: the output (trimmed) does not equal the expected text${check.message ? `: ${check.message}` : ''}`, expected: c.expect.equals.trim(), actual: o.output.text.trim() };
}

/**
 * The matrix of a report, cases down, models across, one mark per cell (✓ pass, ✗ fail, – skip,
 * ! error), then the counts per model: the summary a test run's output ends with.
 */
export function matrixLines(r: CasesReport): string[] {
  const lines = matrixText(r, MARK, ' ', 40);
  const t = tally(r);
  lines.push('', r.models.map((m) => t[m.label].line).join(' · '));
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines;
}
