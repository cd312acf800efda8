// One line of a `*.evals.jsonl` case file, already parsed as JSON, checked field by field and
// normalised into an EvalCase (a string `contains` becomes a list of one, a string `regex` a
// pattern without flags). Every problem is reported, not only the first, each with the column of
// the key it is about when the key can be found in the line's text, so that the editor can
// underline it. The rules here are the ones schemas/evals.schema.json states for the editor; a
// unit test keeps the two in agreement. Pure: no file system.
import {
  CHECK_KINDS, type CaseMessage, type CaseSampling, type EvalCase, type Expect, type RegexExpect,
} from '../../../protocol/evalCases';

/** The keys a case line may hold. */
export const CASE_KEYS = ['name', 'prompt', 'messages', 'completion', 'expect', 'maxNewTokens', 'sampling'] as const;
export const SAMPLING_KEYS = ['temperature', 'topP', 'seed'] as const;
export const REGEX_KEYS = ['pattern', 'flags'] as const;
export const MESSAGE_ROLES: readonly CaseMessage['role'][] = ['system', 'user', 'assistant', 'tool'];
/** More than this is a slip (an extra zero) rather than a test: cases run on every model, greedily. */
export const MAX_CASE_NEW_TOKENS = 4096;

/** A problem in one line; the column is 1-based, in the line's text. */
export interface LineProblem { column?: number; message: string }

/** `name` as in the valid names, or the nearest one by edit distance when it is close enough to be a typo. */
export function nearest(name: string, valid: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const v of valid) {
    const d = editDistance(name.toLowerCase(), v.toLowerCase());
    if (d < bestD) [best, bestD] = [v, d];
  }
  // "contain" → "contains", "expected" → "expect", "maxTokens" → "maxNewTokens"; but not "foo" → "json".
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

function unknownKey(key: string, where: string, valid: readonly string[]): string {
  const near = nearest(key, valid);
  return `unknown key "${key}" in ${where}` + (near ? `: did you mean "${near}"?` : `; the keys are ${valid.map((k) => `"${k}"`).join(', ')}`);
}

const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks one parsed line. `text` is the line as written (for columns). */
export class CaseLine {
  readonly problems: LineProblem[] = [];
  private readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  /** The 1-based column of `"key":` in the line (after `after`'s key when given), if it is there as written. */
  column(key: string, after?: string): number | undefined {
    const from = after === undefined ? 0 : Math.max(0, this.text.indexOf(JSON.stringify(after)));
    const re = new RegExp(`${JSON.stringify(key).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*:`, 'g');
    re.lastIndex = from;
    const m = re.exec(this.text);
    return m ? m.index + 1 : undefined;
  }

  add(message: string, key?: string, after?: string): void {
    const column = key === undefined ? undefined : this.column(key, after);
    this.problems.push(column === undefined ? { message } : { column, message });
  }

  /** The case, or undefined when the line has problems (they are in `problems`). */
  check(v: unknown): EvalCase | undefined {
    if (!isObject(v)) {
      this.add(`a case is a JSON object ({"name": …, "prompt": …, "expect": {…}}), not ${kindOf(v)}`);
      return undefined;
    }
    for (const k of Object.keys(v)) if (!(CASE_KEYS as readonly string[]).includes(k)) this.add(unknownKey(k, 'the case', CASE_KEYS), k);
    const c: Partial<EvalCase> = {};
    const name = v.name;
    if (name === undefined) this.add('no "name": give the case a name, unique in the file (it names the test in reports)');
    else if (typeof name !== 'string' || !name.trim()) this.add(`"name" must be a non-empty string, not ${kindOf(name)}`, 'name');
    else c.name = name;
    this.input(v, c);
    if (v.completion !== undefined) {
      if (typeof v.completion === 'string' && v.completion.length > 0) c.completion = v.completion;
      else this.add(`"completion" must be a non-empty string (the reference answer scored by maxLoss / lowerLossThanBase), not ${kindOf(v.completion)}`, 'completion');
    }
    if (v.expect === undefined) this.add('no "expect": say what the output must satisfy, e.g. "expect": {"contains": "Paris"}');
    else if (!isObject(v.expect)) this.add(`"expect" must be an object of checks, e.g. {"contains": "Paris"}, not ${kindOf(v.expect)}`, 'expect');
    else c.expect = this.expect(v.expect, v.completion !== undefined);
    if (v.maxNewTokens !== undefined) {
      const n = v.maxNewTokens;
      if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= MAX_CASE_NEW_TOKENS) c.maxNewTokens = n;
      else this.add(`"maxNewTokens" must be a whole number from 1 to ${MAX_CASE_NEW_TOKENS}, not ${kindOf(n)}`, 'maxNewTokens');
    }
    if (v.sampling !== undefined) c.sampling = this.sampling(v.sampling);
    return this.problems.length ? undefined : (c as EvalCase);
  }

  private input(v: Record<string, unknown>, c: Partial<EvalCase>): void {
    const hasPrompt = v.prompt !== undefined;
    const hasMessages = v.messages !== undefined;
    if (hasPrompt && hasMessages) this.add('give "prompt" or "messages", not both: a case is either a text to continue or a conversation to answer', 'messages');
    else if (!hasPrompt && !hasMessages) this.add('no "prompt" and no "messages": give the text to continue ("prompt": "…") or the conversation to answer ("messages": [{"role": "user", "content": "…"}])');
    if (hasPrompt) {
      if (typeof v.prompt === 'string' && v.prompt.length > 0) c.prompt = v.prompt;
      else this.add(`"prompt" must be a non-empty string, not ${kindOf(v.prompt)}`, 'prompt');
    }
    if (hasMessages) c.messages = this.messages(v.messages);
  }

  private messages(v: unknown): CaseMessage[] | undefined {
    if (!Array.isArray(v) || v.length === 0) {
      this.add(`"messages" must be a non-empty list of {"role", "content"} turns, not ${Array.isArray(v) ? 'an empty list' : kindOf(v)}`, 'messages');
      return undefined;
    }
    let ok = true;
    v.forEach((m, i) => {
      const at = `"messages"[${i}]`;
      if (!isObject(m)) {
        ok = false;
        this.add(`${at} must be an object {"role": …, "content": …}, not ${kindOf(m)}`, 'messages');
        return;
      }
      if (!MESSAGE_ROLES.includes(m.role as CaseMessage['role'])) {
        ok = false;
        this.add(`${at}.role must be one of ${MESSAGE_ROLES.map((r) => `"${r}"`).join(', ')}, not ${m.role === undefined ? 'missing' : kindOf(m.role)}`, 'messages');
      }
      if (typeof m.content !== 'string') {
        ok = false;
        this.add(`${at}.content must be a string, not ${m.content === undefined ? 'missing' : kindOf(m.content)}`, 'messages');
      }
    });
    const last = v[v.length - 1] as unknown;
    if (isObject(last) && last.role === 'assistant') {
      ok = false;
      this.add('the last message is an assistant turn: the model answers after the last message, so end with the user (or tool) turn it should answer; put a reference answer in "completion"', 'messages');
    }
    return ok ? (v as CaseMessage[]) : undefined;
  }

  private strings(key: 'contains' | 'notContains', v: unknown): string[] | undefined {
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string')) {
      this.add(`"${key}" must be a string or a non-empty list of strings, not ${kindOf(v)}`, key, 'expect');
      return undefined;
    }
    if (list.some((s) => s === '')) {
      this.add(`"${key}" has an empty string: every output contains it, so the check would say nothing`, key, 'expect');
      return undefined;
    }
    return list as string[];
  }

  private regex(v: unknown): RegexExpect | undefined {
    let r: RegexExpect;
    if (typeof v === 'string') r = { pattern: v };
    else if (isObject(v) && typeof v.pattern === 'string' && (v.flags === undefined || typeof v.flags === 'string')) {
      for (const k of Object.keys(v)) if (!(REGEX_KEYS as readonly string[]).includes(k)) this.add(unknownKey(k, '"regex"', REGEX_KEYS), k, 'regex');
      r = v.flags === undefined ? { pattern: v.pattern } : { pattern: v.pattern, flags: v.flags };
    } else {
      this.add(`"regex" must be a pattern string or {"pattern": "…", "flags": "i"}, not ${kindOf(v)}`, 'regex', 'expect');
      return undefined;
    }
    if (r.pattern === '') {
      this.add('"regex" has an empty pattern: it matches every output', 'regex', 'expect');
      return undefined;
    }
    if (r.flags && /[gy]/.test(r.flags)) {
      this.add(`"regex" flags "${r.flags}": drop "g" and "y" (they make a pattern remember where it last matched); the pattern is searched anywhere in the output anyway`, 'regex', 'expect');
      return undefined;
    }
    try {
      new RegExp(r.pattern, r.flags);
    } catch (e) {
      this.add(`"regex" does not compile as a JavaScript regular expression: ${(e as Error).message}`, 'regex', 'expect');
      return undefined;
    }
    return r;
  }

  private expect(v: Record<string, unknown>, hasCompletion: boolean): Expect | undefined {
    const keys = Object.keys(v);
    if (keys.length === 0) {
      this.add(`"expect" is empty: give at least one check (${CHECK_KINDS.join(', ')})`, 'expect');
      return undefined;
    }
    const before = this.problems.length;
    const e: Expect = {};
    for (const k of keys) if (!(CHECK_KINDS as readonly string[]).includes(k)) this.add(unknownKey(k, '"expect"', CHECK_KINDS), k, 'expect');
    const str = (k: 'equals' | 'startsWith', allowEmpty: boolean): void => {
      const s = v[k];
      if (s === undefined) return;
      if (typeof s !== 'string') this.add(`"${k}" must be a string, not ${kindOf(s)}`, k, 'expect');
      else if (!allowEmpty && s === '') this.add(`"${k}" is empty: every output starts with it, so the check would say nothing`, k, 'expect');
      else e[k] = s;
    };
    if (v.contains !== undefined) e.contains = this.strings('contains', v.contains);
    if (v.notContains !== undefined) e.notContains = this.strings('notContains', v.notContains);
    if (v.regex !== undefined) e.regex = this.regex(v.regex);
    str('equals', true);
    str('startsWith', false);
    if (v.maxLoss !== undefined) {
      if (typeof v.maxLoss === 'number' && Number.isFinite(v.maxLoss) && v.maxLoss > 0) e.maxLoss = v.maxLoss;
      else this.add(`"maxLoss" must be a positive number (mean loss per token, in nats), not ${kindOf(v.maxLoss)}`, 'maxLoss', 'expect');
    }
    for (const k of ['lowerLossThanBase', 'json'] as const) {
      if (v[k] === undefined) continue;
      if (v[k] === true) e[k] = true;
      else this.add(`"${k}" can only be true (leave it out to not check it), not ${kindOf(v[k])}`, k, 'expect');
    }
    for (const k of ['maxLoss', 'lowerLossThanBase'] as const) {
      if (v[k] !== undefined && !hasCompletion) this.add(`"${k}" scores the case's "completion" (the reference answer): add "completion": "…" to the case`, k, 'expect');
    }
    return this.problems.length === before ? e : undefined;
  }

  private sampling(v: unknown): CaseSampling | undefined {
    if (!isObject(v)) {
      this.add(`"sampling" must be an object {"temperature": 0.7, "topP": 0.9, "seed": 1}, not ${kindOf(v)}; leave it out for greedy decoding`, 'sampling');
      return undefined;
    }
    const before = this.problems.length;
    for (const k of Object.keys(v)) if (!(SAMPLING_KEYS as readonly string[]).includes(k)) this.add(unknownKey(k, '"sampling"', SAMPLING_KEYS), k, 'sampling');
    const { temperature: t, topP: p, seed } = v;
    if (t === undefined) this.add('"sampling" needs a "temperature" above 0 (leave "sampling" out for greedy decoding)', 'sampling');
    else if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0) this.add(`"temperature" must be a number above 0, not ${kindOf(t)}; leave "sampling" out for greedy decoding`, 'temperature', 'sampling');
    if (p !== undefined && (typeof p !== 'number' || !(p > 0 && p <= 1))) this.add(`"topP" must be a number above 0 and at most 1, not ${kindOf(p)}`, 'topP', 'sampling');
    if (seed !== undefined && (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0)) this.add(`"seed" must be a whole number ≥ 0, not ${kindOf(seed)}`, 'seed', 'sampling');
    if (this.problems.length !== before) return undefined;
    const s: CaseSampling = { temperature: t as number };
    if (p !== undefined) s.topP = p as number;
    if (seed !== undefined) s.seed = seed as number;
    return s;
  }
}
