// A `*.evals.jsonl` case file: one JSON case per line (JSON Lines). Blank lines and lines whose
// first non-blank characters are `//` are skipped (comments). A UTF-8 byte order mark and CRLF
// line ends are accepted. parseCases reports every problem of every line (the editor shows them
// all); readCases reads a file and refuses it when it has any problem or no case at all.
// The fields of one line are checked in caseLine.ts.
import { readFileSync } from 'node:fs';
import type { EvalCase } from '../../../protocol/evalCases';
import { CaseLine } from './caseLine';

/** A problem in a case file: 1-based line, and 1-based column when known. */
export interface CaseProblem { line: number; column?: number; message: string }

/** How many problems CaseFileError's message lists (all are in `problems`). */
const LISTED_PROBLEMS = 10;

/** A case file with problems; the message lists them as `file:line: message` (or `file:line:column: message`). */
export class CaseFileError extends Error {
  constructor(readonly file: string, readonly problems: CaseProblem[]) {
    const n = problems.length;
    const listed = problems.slice(0, LISTED_PROBLEMS).map((p) => `  ${file}:${p.line}${p.column === undefined ? '' : `:${p.column}`}: ${p.message}`);
    if (n > LISTED_PROBLEMS) listed.push(`  … and ${n - LISTED_PROBLEMS} more problem${n - LISTED_PROBLEMS === 1 ? '' : 's'}`);
    super(`${file}: ${n} problem${n === 1 ? '' : 's'} in the case file; fix ${n === 1 ? 'it' : 'them'} and run again:\n${listed.join('\n')}`);
    this.name = 'CaseFileError';
  }
}

/** Where JSON.parse says the line broke ("… at position 12"), as a 1-based column. */
function jsonColumn(message: string): number | undefined {
  const m = /at position (\d+)/.exec(message);
  return m ? Number(m[1]) + 1 : undefined;
}

/** The cases of a case file's text, and every problem found; a line with problems gives no case. */
export function parseCases(text: string, file: string): { cases: EvalCase[]; problems: CaseProblem[] } {
  void file; // named for callers' messages; problems carry lines only
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  const cases: EvalCase[] = [];
  const problems: CaseProblem[] = [];
  const firstLineOf = new Map<string, number>();
  lines.forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('//')) return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      const msg = (e as Error).message;
      const column = jsonColumn(msg);
      const hint = /^\s*[[{]/.test(raw) && !/[\]}]\s*$/.test(raw) ? ' (one case per line: a case cannot span lines)' : '';
      problems.push({ line, ...(column === undefined ? {} : { column }), message: `not valid JSON: ${msg}${hint}` });
      return;
    }
    const check = new CaseLine(raw);
    const c = check.check(value);
    // A duplicate is a problem even when the line has others: the editor shows it at once.
    const name = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>).name : undefined;
    if (typeof name === 'string' && name.trim()) {
      const earlier = firstLineOf.get(name);
      if (earlier !== undefined) check.add(`duplicate name "${name}": line ${earlier} already has it; names must be unique (reports key outcomes by name)`, 'name');
      else firstLineOf.set(name, line);
    }
    for (const p of check.problems) problems.push({ line, ...p });
    if (c && check.problems.length === 0) cases.push({ ...c, line });
  });
  return { cases, problems };
}

/** The cases of a case file; throws CaseFileError when it has problems or no case, and a plain Error naming the file when it cannot be read. */
export function readCases(file: string): EvalCase[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read the case file (${(e as Error).message}); check the path`);
  }
  const { cases, problems } = parseCases(text, file);
  if (problems.length) throw new CaseFileError(file, problems);
  if (cases.length === 0) {
    throw new CaseFileError(file, [{
      line: 1,
      message: 'no cases: write one JSON case per line, e.g. {"name": "capital", "prompt": "The capital of France is", "expect": {"contains": "Paris"}} (blank lines and // comments are skipped)',
    }]);
  }
  return cases;
}
