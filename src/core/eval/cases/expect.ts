// The checks of an evaluation case (issue 16) applied to what a model gave: its generated text
// (contains, notContains, regex, equals, startsWith, json) and the loss of the case's
// `completion` under it (maxLoss, lowerLossThanBase). Pure (no TensorFlow.js): the runner
// generates and scores, this says pass / fail / skip and why, in words a report can show.
//
// `contains` and `notContains` give one CheckResult per string, so a report says which needle
// was missing (or present) and counts each. Checks come in CHECK_KINDS order.
import {
  LOSS_CHECKS, OUTPUT_CHECKS, type CaseStatus, type CheckResult, type EvalCase, type Expect,
} from '../../../protocol/evalCases';

/** How much of an output a CheckResult quotes (code points): enough to see what went wrong, short enough for a table cell. */
const QUOTE_CHARS = 160;
/** Around a match, the characters quoted on each side. */
const CONTEXT_CHARS = 40;

/** `"text"` as JSON writes it (newlines visible), cut to `max` code points with the total length when longer. */
export function quote(text: string, max = QUOTE_CHARS): string {
  const cps = Array.from(text);
  return cps.length <= max ? JSON.stringify(text) : `${JSON.stringify(cps.slice(0, max).join(''))}… (${cps.length} characters)`;
}

/** The output around `index` (a UTF-16 offset) for `length` units, with ellipses where it was cut. */
function around(text: string, index: number, length: number): string {
  const start = Math.max(0, index - CONTEXT_CHARS);
  const end = Math.min(text.length, index + length + CONTEXT_CHARS);
  // Do not cut a surrogate pair in half.
  const s = /[\uDC00-\uDFFF]/.test(text[start] ?? '') ? start + 1 : start;
  const e = /[\uD800-\uDBFF]/.test(text[end - 1] ?? '') ? end - 1 : end;
  return `${s > 0 ? '…' : ''}${JSON.stringify(text.slice(s, e))}${e < text.length ? '…' : ''}`;
}

const output = (text: string): string => (text === '' ? 'an empty output' : quote(text));

/** The first position where a and b differ, in UTF-16 units. */
function firstDifference(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** One result per output check present in `expect` (contains / notContains: one per string). */
export function checkOutput(expect: Expect, text: string): CheckResult[] {
  const out: CheckResult[] = [];
  for (const needle of expect.contains ?? []) {
    const at = text.indexOf(needle);
    out.push(at >= 0
      ? { kind: 'contains', status: 'pass', expected: `contains ${quote(needle)}`, actual: `found at character ${at}: ${around(text, at, needle.length)}` }
      : { kind: 'contains', status: 'fail', expected: `contains ${quote(needle)}`, actual: output(text), message: `${quote(needle)} is not in the output (case-sensitive)` });
  }
  for (const needle of expect.notContains ?? []) {
    const at = text.indexOf(needle);
    out.push(at < 0
      ? { kind: 'notContains', status: 'pass', expected: `does not contain ${quote(needle)}`, actual: output(text) }
      : { kind: 'notContains', status: 'fail', expected: `does not contain ${quote(needle)}`, actual: `found at character ${at}: ${around(text, at, needle.length)}`, message: `${quote(needle)} is in the output` });
  }
  if (expect.regex) out.push(checkRegex(expect.regex.pattern, expect.regex.flags ?? '', text));
  if (expect.equals !== undefined) {
    const want = expect.equals.trim();
    const got = text.trim();
    const expected = `equals ${quote(want)} (trimmed)`;
    if (got === want) out.push({ kind: 'equals', status: 'pass', expected, actual: quote(got) });
    else {
      const d = firstDifference(want, got);
      out.push({ kind: 'equals', status: 'fail', expected, actual: output(got), message: `the trimmed output differs at character ${d}: expected ${around(want, d, 0)}, got ${around(got, d, 0)}` });
    }
  }
  if (expect.startsWith !== undefined) {
    const got = text.trimStart();
    const expected = `starts with ${quote(expect.startsWith)}`;
    const head = quote(got, Math.max(Array.from(expect.startsWith).length + 20, 40));
    out.push(got.startsWith(expect.startsWith)
      ? { kind: 'startsWith', status: 'pass', expected, actual: head }
      : { kind: 'startsWith', status: 'fail', expected, actual: got === '' ? 'an empty output' : head, message: `the output (leading whitespace removed) starts differently at character ${firstDifference(expect.startsWith, got)}` });
  }
  if (expect.json) {
    const got = text.trim();
    try {
      const v: unknown = JSON.parse(got);
      out.push({ kind: 'json', status: 'pass', expected: 'the output is JSON', actual: `JSON ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}: ${quote(got)}` });
    } catch (e) {
      out.push({ kind: 'json', status: 'fail', expected: 'the output is JSON', actual: output(got), message: got === '' ? 'the output is empty' : `the trimmed output does not parse as JSON: ${(e as Error).message}` });
    }
  }
  return out;
}

function checkRegex(pattern: string, flags: string, text: string): CheckResult {
  const expected = `matches /${pattern}/${flags}`;
  let re: RegExp;
  try {
    // Sticky / global flags would make matching depend on lastIndex: drop them (parseCases refuses them).
    re = new RegExp(pattern, flags.replace(/[gy]/g, ''));
  } catch (e) {
    return { kind: 'regex', status: 'fail', expected, actual: output(text), message: `the pattern does not compile: ${(e as Error).message}` };
  }
  const m = re.exec(text);
  return m
    ? { kind: 'regex', status: 'pass', expected, actual: `matched ${quote(m[0])} at character ${m.index}` }
    : { kind: 'regex', status: 'fail', expected, actual: output(text), message: 'no match anywhere in the output' };
}

/** A loss as reports show it. */
const nats = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : String(x));

/** One result per loss check present in `expect`, from the mean loss of the case's completion under this model (and under the base). */
export function checkLoss(expect: Expect, s: { loss: number; baseLoss?: number; isBase: boolean }): CheckResult[] {
  const out: CheckResult[] = [];
  const lossOk = Number.isFinite(s.loss);
  const notFinite = `the loss of the completion is ${s.loss} under this model: its logits are not finite (a diverged adapter or an overflow in half precision); retrain with a lower learning rate or evaluate in float32`;
  if (expect.maxLoss !== undefined) {
    const expected = `loss ≤ ${expect.maxLoss}`;
    const actual = `loss ${nats(s.loss)}`;
    if (!lossOk) out.push({ kind: 'maxLoss', status: 'fail', expected, actual, message: notFinite });
    else if (s.loss <= expect.maxLoss) out.push({ kind: 'maxLoss', status: 'pass', expected, actual });
    else out.push({ kind: 'maxLoss', status: 'fail', expected, actual, message: `the completion's mean loss is ${nats(s.loss - expect.maxLoss)} above the limit` });
  }
  if (expect.lowerLossThanBase) {
    const expected = "loss lower than the base model's";
    const b = s.baseLoss;
    if (s.isBase) out.push({ kind: 'lowerLossThanBase', status: 'skip', expected, actual: `loss ${nats(s.loss)}`, message: 'this is the base model: the others are compared with it' });
    else if (!lossOk) out.push({ kind: 'lowerLossThanBase', status: 'fail', expected, actual: `loss ${nats(s.loss)}`, message: notFinite });
    else if (b === undefined) out.push({ kind: 'lowerLossThanBase', status: 'skip', expected, actual: `loss ${nats(s.loss)}`, message: "the base model's loss is unknown (the base model was not run): run the cases on the base too" });
    else if (!Number.isFinite(b)) out.push({ kind: 'lowerLossThanBase', status: 'skip', expected, actual: `base loss ${b}, this model ${nats(s.loss)}`, message: "the base model's loss is not finite, so there is nothing to compare with" });
    else {
      const actual = `base loss ${nats(b)}, this model ${nats(s.loss)} (${s.loss - b >= 0 ? '+' : '−'}${nats(Math.abs(s.loss - b))})`;
      out.push(s.loss < b
        ? { kind: 'lowerLossThanBase', status: 'pass', expected, actual }
        : { kind: 'lowerLossThanBase', status: 'fail', expected, actual, message: 'the completion is not likelier under this model than under the base model' });
    }
  }
  return out;
}

/** fail if any check failed, else pass if any passed, else skip (no checks, or all skipped). */
export function caseStatus(checks: CheckResult[]): CaseStatus {
  if (checks.some((c) => c.status === 'fail')) return 'fail';
  return checks.some((c) => c.status === 'pass') ? 'pass' : 'skip';
}

/** The check is asked for (`json: false` and `lowerLossThanBase: false` ask for nothing). */
const present = (e: Expect, k: keyof Expect): boolean => e[k] !== undefined && e[k] !== false;

/** The case has a check on generated text, so each model must generate. */
export function needsOutput(c: EvalCase): boolean {
  return OUTPUT_CHECKS.some((k) => present(c.expect, k));
}

/** The case has a check on the loss of its completion, so each model must score it. */
export function needsLoss(c: EvalCase): boolean {
  return LOSS_CHECKS.some((k) => present(c.expect, k));
}
