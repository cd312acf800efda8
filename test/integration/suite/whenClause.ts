// A small evaluator for the when-clauses the manifest uses, so the suite can check what the
// explorer menu accepts: `key`, `!key`, `key == value`, `key != value`, `key =~ /regex/flags`,
// `true`, `false`, joined by `&&` and `||` (with `&&` binding tighter, as in VS Code). Parentheses
// and the other operators are refused loudly rather than guessed.

export type Context = Record<string, string | number | boolean | undefined>;

type Token = { kind: 'and' | 'or' } | { kind: 'term'; text: string };

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let term = '';
  const endTerm = () => {
    if (term.trim()) tokens.push({ kind: 'term', text: term.trim() });
    term = '';
  };
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    // A regex literal after =~ is copied whole: it may hold |, & and other operator characters.
    if (c === '/' && /=~\s*$/.test(term)) {
      let j = i + 1;
      let inClass = false;
      for (; j < expr.length; j++) {
        if (expr[j] === '\\') j++;
        else if (expr[j] === '[') inClass = true;
        else if (expr[j] === ']') inClass = false;
        else if (expr[j] === '/' && !inClass) break;
      }
      if (j >= expr.length) throw new Error(`unterminated regex in when-clause: ${expr}`);
      let k = j + 1;
      while (k < expr.length && /[a-z]/i.test(expr[k])) k++;
      term += expr.slice(i, k);
      i = k - 1;
      continue;
    }
    if (expr.startsWith('&&', i) || expr.startsWith('||', i)) {
      endTerm();
      tokens.push({ kind: expr[i] === '&' ? 'and' : 'or' });
      i++;
      continue;
    }
    if (c === '(' || c === ')') throw new Error(`parentheses are not supported by this evaluator: ${expr}`);
    term += c;
  }
  endTerm();
  return tokens;
}

function evalTerm(term: string, ctx: Context): boolean {
  if (term === 'true') return true;
  if (term === 'false') return false;
  let m = /^(\S+)\s*=~\s*\/(.*)\/([a-z]*)$/i.exec(term);
  if (m) {
    const value = ctx[m[1]];
    return value !== undefined && new RegExp(m[2], m[3]).test(String(value));
  }
  m = /^(\S+)\s*(==|!=)\s*(.+)$/.exec(term);
  if (m) {
    const value = String(ctx[m[1]]);
    const expected = m[3].trim().replace(/^'(.*)'$/, '$1');
    return m[2] === '==' ? value === expected : value !== expected;
  }
  m = /^!\s*(\S+)$/.exec(term);
  if (m) return !ctx[m[1]];
  if (/^[\w.]+$/.test(term)) return Boolean(ctx[term]);
  throw new Error(`unsupported when-clause term: ${term}`);
}

/** Evaluates `expr` against `ctx` the way VS Code's context keys would. */
export function evaluateWhen(expr: string, ctx: Context): boolean {
  const tokens = tokenize(expr);
  // Disjunction of conjunctions.
  let any = false;
  let all = true;
  let expectTerm = true;
  for (const t of tokens) {
    if (t.kind === 'term') {
      if (!expectTerm) throw new Error(`malformed when-clause: ${expr}`);
      all = all && evalTerm(t.text, ctx);
      expectTerm = false;
    } else {
      if (expectTerm) throw new Error(`malformed when-clause: ${expr}`);
      if (t.kind === 'or') {
        any = any || all;
        all = true;
      }
      expectTerm = true;
    }
  }
  if (expectTerm) throw new Error(`malformed when-clause: ${expr}`);
  return any || all;
}

/** The context keys VS Code sets for a resource in the explorer (the subset menus use). */
export function resourceContext(file: string): Context {
  const base = file.split('/').pop() ?? file;
  const dot = base.lastIndexOf('.');
  return {
    resourceFilename: base,
    resourceExtname: dot > 0 ? base.slice(dot) : '',
    resourceScheme: 'file',
    explorerResourceIsFolder: false,
  };
}
