// A cases report (issue 16) as JUnit XML, the report format CI tools read (Jenkins, GitLab, GitHub
// test reporters): one <testsuite> per model, one <testcase> per case, <failure> with what was
// expected and what the model gave, <error> when the case could not run, <skipped/> when every
// check was skipped, and the generated text in <system-out>. Written to the Ant / Jenkins shape
// that test/fixtures/junit/junit.xsd states (test/unit/junit.test.ts validates against it).
//
// Times: a testsuite's `time` is its model's real elapsed time (the report's modelMs: setting the
// model up, scoring, generating), not the sum of its cases' times: outputs decoded in one batch
// share their seconds, so that sum counts the same seconds once per case of the batch. A report
// without modelMs (written before it was recorded) gives its suites no time. A testcase's `time` is
// its output's `ms`: from the start of its batch to its last token, the wait for that answer
// (overlapping its batch-mates'); a case without a generation has none. The root's `time` is the
// whole run's.
//
// Characters XML 1.0 cannot hold at all (U+0000–U+0008, U+000B, U+000C, U+000E–U+001F, lone
// surrogates, U+FFFE, U+FFFF) are written as the visible text `\uXXXX`: a model's output may
// contain them, and one of them would make the whole file unreadable to every XML parser.
import { CASES_SUFFIX, type CaseModel, type CaseOutcome, type CasesReport, type CheckResult } from '../../../protocol/evalCases';

/** Whether XML 1.0 allows this code point in a document (its production `Char`). */
function xmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/** `s` with the characters XML cannot hold made visible and the markup characters escaped. */
export function xmlEscape(s: string, attribute = false): string {
  let out = '';
  // for…of walks code points; a lone surrogate comes out on its own (code point D800–DFFF).
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (!xmlChar(cp)) out += `\\u${cp.toString(16).toUpperCase().padStart(4, '0')}`;
    else if (ch === '&') out += '&amp;';
    else if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;'; // also keeps "]]>" out of text
    else if (ch === '"') out += '&quot;';
    else if (ch === '\r') out += '&#13;'; // a parser turns a raw CR into LF
    // In an attribute a raw newline or tab is read back as a space (attribute-value normalisation).
    else if (attribute && ch === '\n') out += '&#10;';
    else if (attribute && ch === '\t') out += '&#9;';
    else out += ch;
  }
  return out;
}

function attrs(a: Record<string, string | number | undefined>): string {
  return Object.entries(a).filter(([, v]) => v !== undefined).map(([k, v]) => ` ${k}="${xmlEscape(String(v), true)}"`).join('');
}

const seconds = (ms: number): string => (Math.max(0, ms) / 1000).toFixed(3);

/** The case file's name without its folder and `.evals.jsonl`: the first part of each classname. */
function caseFileBase(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  return base.toLowerCase().endsWith(CASES_SUFFIX) ? base.slice(0, -CASES_SUFFIX.length) : base;
}

/** `2026-12-03T16:30:00` (UTC, whole seconds: the Ant form, which every reader takes), or undefined when not a date. */
function timestamp(iso: string): string | undefined {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString().slice(0, 19);
}

function checkLines(c: CheckResult): string {
  const head = `${c.status.toUpperCase()} ${c.kind}${c.message ? `: ${c.message}` : ''}`;
  return `${head}\n  expected: ${c.expected}\n  got:      ${c.actual}`;
}

/** The body of a <failure>: every check with its status, then the loss and the output. */
function details(o: CaseOutcome): string {
  const parts = o.checks.map(checkLines);
  if (o.loss !== undefined) {
    parts.push(`loss of the completion: ${o.loss}${o.baseLoss !== undefined ? ` (base model: ${o.baseLoss})` : ''}${o.lossTokens !== undefined ? ` over ${o.lossTokens} tokens` : ''}`);
  }
  if (o.output) parts.push(`output (${o.output.ids.length} tokens, stopped by ${o.output.stop}):\n${o.output.text}`);
  return parts.join('\n');
}

function testcase(o: CaseOutcome, classname: string, file: string): string {
  const time = o.output ? seconds(o.output.ms) : undefined;
  const open = `    <testcase${attrs({ name: o.case, classname, time, file, line: o.line >= 1 ? o.line : undefined })}>`;
  const body: string[] = [];
  if (o.status === 'fail') {
    const failed = o.checks.filter((c) => c.status === 'fail');
    const message = failed.map((c) => `${c.expected}: ${c.message ?? `got ${c.actual}`}`).join('; ');
    const type = [...new Set(failed.map((c) => c.kind))].join(',') || 'fail';
    body.push(`      <failure${attrs({ message: message || 'failed', type })}>${xmlEscape(details(o))}</failure>`);
  } else if (o.status === 'error') {
    const message = o.error ?? 'the case could not run';
    body.push(`      <error${attrs({ message, type: 'error' })}>${xmlEscape(message)}</error>`);
  } else if (o.status === 'skip') {
    const why = o.checks.map((c) => c.message).filter((m): m is string => !!m);
    body.push(`      <skipped${attrs({ message: why.length ? [...new Set(why)].join('; ') : 'no check ran' })}/>`);
  }
  if (o.output) body.push(`      <system-out>${xmlEscape(o.output.text)}</system-out>`);
  return body.length ? `${open}\n${body.join('\n')}\n    </testcase>` : `${open.slice(0, -1)}/>`;
}

interface Counts { tests: number; failures: number; errors: number; skipped: number }

function count(outcomes: CaseOutcome[]): Counts {
  const c: Counts = { tests: outcomes.length, failures: 0, errors: 0, skipped: 0 };
  for (const o of outcomes) {
    if (o.status === 'fail') c.failures++;
    else if (o.status === 'error') c.errors++;
    else if (o.status === 'skip') c.skipped++;
  }
  return c;
}

function properties(r: CasesReport, m: CaseModel | undefined): string {
  const p: [string, string | number | undefined][] = [
    ['model.kind', m?.kind], ['model', m?.model], ['adapter', m?.adapter], ['step', m?.step], ['note', m?.note],
    ['caseFile', r.file], ['caseFile.sha256', r.sha256], ['run', r.run], ['backend', r.backend],
    ['gate', r.gate !== undefined && m !== undefined ? String(r.gate === m.label) : undefined],
  ];
  const lines = p.filter(([, v]) => v !== undefined).map(([name, value]) => `      <property${attrs({ name, value })}/>`);
  return lines.length ? `    <properties>\n${lines.join('\n')}\n    </properties>\n` : '';
}

/** The report as a JUnit XML document (UTF-8 once written as a UTF-8 string). */
export function junitXml(report: CasesReport): string {
  const base = caseFileBase(report.file);
  // The models in report order, then any label an outcome names that the model list lacks.
  const labels = [...new Set([...report.models.map((m) => m.label), ...report.outcomes.map((o) => o.model)])];
  const suites: string[] = [];
  const total: Counts = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  for (const label of labels) {
    const outcomes = report.outcomes.filter((o) => o.model === label);
    const c = count(outcomes);
    for (const k of ['tests', 'failures', 'errors', 'skipped'] as const) total[k] += c[k];
    const model = report.models.find((m) => m.label === label);
    const ms = report.modelMs?.[label];
    const head = `  <testsuite${attrs({ name: label, tests: c.tests, failures: c.failures, errors: c.errors, skipped: c.skipped, time: ms !== undefined ? seconds(ms) : undefined, timestamp: timestamp(report.createdAt), package: base })}>`;
    const cases = outcomes.map((o) => testcase(o, `${base}.${label}`, report.file));
    suites.push(`${head}\n${properties(report, model)}${cases.map((s) => `${s}\n`).join('')}  </testsuite>`);
  }
  const root = attrs({ name: `lora-lab test ${base}`, tests: total.tests, failures: total.failures, errors: total.errors, skipped: total.skipped, time: seconds(report.ms) });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites${root}>\n${suites.map((s) => `${s}\n`).join('')}</testsuites>\n`;
}
