// Python's str methods for @huggingface/jinja, so a chat template renders here as transformers'
// apply_chat_template renders it (Jinja2 on Python strings). The library (0.5.11, unchanged in
// 0.5.13) strips all whitespace in strip/lstrip/rstrip whatever `chars` says — Qwen3's
// `content.lstrip('\n')` turned the reply "  spaced reply  " into "spaced reply  " — and differs
// from Python elsewhere: whitespace is JavaScript's (U+FEFF yes; U+001C–U+001F, U+0085 no),
// capitalize() keeps the rest's case, title() capitalises after \b only, length counts UTF-16
// units, split(maxsplit=…) and rsplit() are missing, `|trim(chars)` is refused and `|title` is
// str.title, not Jinja's filter. installPythonStrings() replaces those entries of the library's
// string built-ins (the `builtins` getter of its StringValue class) and wraps its filter step;
// test/fixtures/chat-templates/string-methods.json (transformers' rendering) checks every one.
//
// Upstream (checked 2026-12): huggingface.js has no issue or PR for the `chars` argument; its
// lstrip/rstrip came from PR #854 (2024) without it. The same bug in huggingface/swift-jinja was
// issue #64, fixed by PR #65 (2026-07). Drop this file once @huggingface/jinja honours `chars`
// and the golden tests pass without it.
import { Environment, Interpreter } from '@huggingface/jinja';

/** The library's runtime values, as far as this file touches them. */
interface Value {
  type: string;
  value: unknown;
}
type ValueClass = new (value: unknown) => Value;
type Method = (s: string, positional: Value[], keywords: Map<string, Value>) => Value;

/** Characters for which Python's str.isspace() is true (what strip() and split() remove). */
const PY_SPACE = new Set(
  [9, 10, 11, 12, 13, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000]
    .concat(Array.from({ length: 11 }, (_, i) => 0x2000 + i))
    .map((c) => String.fromCodePoint(c)),
);
/** Jinja's |title splits words at runs of these (filters.py `_word_beginning_split_re`). */
const TITLE_FILTER_SPLIT = new RegExp(
  `([-({[<${Array.from(PY_SPACE, (c) => `\\u{${c.codePointAt(0)?.toString(16)}}`).join('')}]+)`,
  'u',
);
const CASED = /[\p{Lowercase}\p{Uppercase}\p{Lt}]/u;
/** The Latin digraphs whose titlecase differs from their uppercase (Ǆ ǅ ǆ, Ǉ ǈ ǉ, Ǌ ǋ ǌ, Ǳ ǲ ǳ). */
const DIGRAPH_TITLE: Record<string, string> = {};
for (const first of [0x1c4, 0x1c7, 0x1ca, 0x1f1]) {
  for (let k = 0; k < 3; k++) DIGRAPH_TITLE[String.fromCodePoint(first + k)] = String.fromCodePoint(first + 1);
}

/** Python's titlecase of one character (ß → Ss, ﬁ → Fi, ǆ → ǅ). */
function titleChar(c: string): string {
  const digraph = DIGRAPH_TITLE[c];
  if (digraph !== undefined) return digraph;
  const [head, ...tail] = Array.from(c.toUpperCase());
  return head + tail.join('').toLowerCase();
}

function stripSet(chars: Value | undefined, method: string): Set<string> {
  if (chars === undefined || chars.type === 'NullValue' || chars.type === 'UndefinedValue') return PY_SPACE;
  if (chars.type !== 'StringValue') throw new Error(`${method} arg must be None or str`);
  return new Set(Array.from(chars.value as string));
}

/** str.strip/lstrip/rstrip: `chars` is a set of characters (not a prefix), whitespace when absent or none. */
export function pyStrip(s: string, chars: Set<string>, left: boolean, right: boolean): string {
  const cs = Array.from(s);
  let a = 0;
  let b = cs.length;
  if (left) while (a < b && chars.has(cs[a])) a++;
  if (right) while (b > a && chars.has(cs[b - 1])) b--;
  return cs.slice(a, b).join('');
}

/** str.split / str.rsplit with Python's separator and maxsplit rules. */
export function pySplit(s: string, sep: string | null, maxsplit: number, fromRight: boolean): string[] {
  if (sep === '') throw new Error('empty separator');
  const limit = maxsplit < 0 ? Infinity : maxsplit;
  if (sep !== null) {
    const parts = s.split(sep);
    if (parts.length - 1 <= limit) return parts;
    return fromRight
      ? [parts.slice(0, parts.length - limit).join(sep), ...parts.slice(parts.length - limit)]
      : [...parts.slice(0, limit), parts.slice(limit).join(sep)];
  }
  // Runs of whitespace separate; no empty strings at either end; the unsplit rest keeps its edge.
  const cs = Array.from(s);
  const out: string[] = [];
  if (!fromRight) {
    let i = 0;
    for (;;) {
      while (i < cs.length && PY_SPACE.has(cs[i])) i++;
      if (i === cs.length) return out;
      if (out.length === limit) return [...out, cs.slice(i).join('')];
      const start = i;
      while (i < cs.length && !PY_SPACE.has(cs[i])) i++;
      out.push(cs.slice(start, i).join(''));
    }
  }
  let j = cs.length;
  for (;;) {
    while (j > 0 && PY_SPACE.has(cs[j - 1])) j--;
    if (j === 0) return out.reverse();
    if (out.length === limit) return [cs.slice(0, j).join(''), ...out.reverse()];
    const end = j;
    while (j > 0 && !PY_SPACE.has(cs[j - 1])) j--;
    out.push(cs.slice(j, end).join(''));
  }
}

/** str.title: a cased character after an uncased one is titlecased, after a cased one lowercased. */
export function pyTitle(s: string): string {
  let prevCased = false;
  let out = '';
  for (const c of s) {
    const cased = CASED.test(c);
    out += cased ? (prevCased ? c.toLowerCase() : titleChar(c)) : c;
    prevCased = cased;
  }
  return out;
}

/** str.capitalize (Python ≥ 3.8): the first character titlecased, the rest lowercased. */
export function pyCapitalize(s: string): string {
  const [head, ...tail] = Array.from(s);
  return head === undefined ? '' : titleChar(head) + tail.join('').toLowerCase();
}

/** Jinja's |title filter: each word (split at whitespace, -, (, {, [, <) upper-cased first, then lowered. */
export function jinjaTitleFilter(s: string): string {
  return s
    .split(TITLE_FILTER_SPLIT)
    .filter((item) => item !== '')
    .map((item) => {
      const [head, ...tail] = Array.from(item);
      return head.toUpperCase() + tail.join('').toLowerCase();
    })
    .join('');
}

let installed = false;

/**
 * Makes every @huggingface/jinja template in this process use Python's string semantics for the
 * methods and filters listed at the top of this file. Idempotent; throws when the library's
 * internals no longer look as expected (a version bump), so the gap cannot go unnoticed.
 */
export function installPythonStrings(): void {
  if (installed) return;
  const env = new Environment();
  const probe = (name: string, v: unknown) => env.set(name, v) as unknown as Value;
  const sample = probe('s', '');
  const StringValue = sample.constructor as ValueClass;
  const BooleanValue = probe('b', true).constructor as ValueClass;
  const IntegerValue = probe('i', 0).constructor as ValueClass;
  const ArrayValue = probe('a', []).constructor as ValueClass;
  const FunctionValue = probe('f', () => null).constructor as ValueClass;
  const proto = StringValue.prototype as object;
  const getter = Object.getOwnPropertyDescriptor(proto, 'builtins')?.get;
  const filter = (Interpreter.prototype as unknown as Record<string, unknown>).applyFilter;
  if (getter === undefined || typeof filter !== 'function' || !((getter.call(sample) as unknown) instanceof Map)) {
    throw new Error(
      '@huggingface/jinja changed its internals (StringValue.builtins / Interpreter.applyFilter), so src/core/data/jinjaStrings.ts cannot give chat templates Python string semantics. Pin the version in package.json or update that file.',
    );
  }

  const str = (s: string) => new StringValue(s);
  const strings = (xs: string[]) => new ArrayValue(xs.map(str));
  const intArg = (v: Value | undefined, fallback: number, what: string): number => {
    if (v === undefined || v.type === 'NullValue') return fallback;
    if (v.type !== 'IntegerValue') throw new Error(`${what} must be an integer`);
    return v.value as number;
  };
  const sepArg = (v: Value | undefined): string | null => {
    if (v === undefined || v.type === 'NullValue') return null;
    if (v.type !== 'StringValue') throw new Error('sep must be a string or None');
    return v.value as string;
  };
  /** startswith/endswith: a string or tuple of strings, optionally within [start, end) (code points). */
  const affix = (name: string, test: (s: string, a: string) => boolean): Method => (s, [pattern, start, end]) => {
    const cs = Array.from(s);
    const from = intArg(start, 0, 'start');
    const to = intArg(end, cs.length, 'end');
    const part = cs.slice(from < 0 ? Math.max(0, cs.length + from) : from, to < 0 ? cs.length + to : to).join('');
    const options = pattern?.type === 'StringValue' ? [pattern] : pattern && Array.isArray(pattern.value) ? (pattern.value as Value[]) : undefined;
    if (options === undefined || options.some((o) => o.type !== 'StringValue')) {
      throw new Error(`${name} first arg must be str or a tuple of str`);
    }
    return new BooleanValue(options.some((o) => test(part, o.value as string)));
  };
  const methods: Record<string, Method> = {
    strip: (s, [chars]) => str(pyStrip(s, stripSet(chars, 'strip'), true, true)),
    lstrip: (s, [chars]) => str(pyStrip(s, stripSet(chars, 'lstrip'), true, false)),
    rstrip: (s, [chars]) => str(pyStrip(s, stripSet(chars, 'rstrip'), false, true)),
    split: (s, [sep, max], kw) => strings(pySplit(s, sepArg(kw.get('sep') ?? sep), intArg(kw.get('maxsplit') ?? max, -1, 'maxsplit'), false)),
    rsplit: (s, [sep, max], kw) => strings(pySplit(s, sepArg(kw.get('sep') ?? sep), intArg(kw.get('maxsplit') ?? max, -1, 'maxsplit'), true)),
    startswith: affix('startswith', (s, a) => s.startsWith(a)),
    endswith: affix('endswith', (s, a) => s.endsWith(a)),
    title: (s) => str(pyTitle(s)),
    capitalize: (s) => str(pyCapitalize(s)),
  };
  const patched = new WeakSet<object>();
  Object.defineProperty(proto, 'builtins', {
    configurable: true,
    get(this: Value) {
      const map = getter.call(this) as Map<string, Value>;
      if (!patched.has(map)) {
        const s = this.value as string;
        for (const [name, method] of Object.entries(methods)) {
          map.set(
            name,
            new FunctionValue((args: Value[]) => {
              // Keyword arguments arrive as one trailing KeywordArgumentsValue.
              const last = args[args.length - 1];
              if (last?.type !== 'KeywordArgumentsValue') return method(s, args, new Map());
              return method(s, args.slice(0, -1), last.value as Map<string, Value>);
            }),
          );
        }
        map.set('length', new IntegerValue(Array.from(s).length));
        patched.add(map);
      }
      return map;
    },
  });

  // Filters: |trim and |trim(chars) are Python's strip; |title is Jinja's own word rule.
  type Evaluate = (args: unknown, env: unknown) => [Value[], Map<string, Value>];
  type FilterNode = { type: string; value?: string; callee?: { type: string; value: string }; args?: unknown };
  const original = filter as (this: unknown, operand: Value, node: FilterNode, env: unknown) => Value;
  (Interpreter.prototype as unknown as Record<string, unknown>).applyFilter = function (
    this: { evaluateArguments: Evaluate },
    operand: Value,
    node: FilterNode,
    environment: unknown,
  ): Value {
    if (operand.type === 'StringValue') {
      const s = operand.value as string;
      const name = node.type === 'Identifier' ? node.value : node.type === 'CallExpression' && node.callee?.type === 'Identifier' ? node.callee.value : undefined;
      if (name === 'trim') {
        let chars: Value | undefined;
        if (node.type === 'CallExpression') {
          const [args, kwargs] = this.evaluateArguments(node.args, environment);
          chars = args[0] ?? kwargs.get('chars');
        }
        return str(pyStrip(s, stripSet(chars, 'trim'), true, true));
      }
      if (name === 'title' && node.type === 'Identifier') return str(jinjaTitleFilter(s));
    }
    return original.call(this, operand, node, environment);
  };
  installed = true;
}
