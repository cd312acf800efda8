// Completion and hover in `*.evals.jsonl` case files. VS Code's jsonValidation does not reach
// JSON Lines (the `jsonl` language only colours; the JSON language server serves json and jsonc),
// so the case schema is applied here, line by line: keys of the object at the cursor (the case,
// `expect`, `sampling`, a `regex` object, a message) not yet written, with their descriptions and
// a snippet of their type; the values of a key (a role, `true`); whole cases on a blank line; a
// key's description on hover. The schema file, bundled, is the single source: the cursor is read
// by core/eval/cases/cursor.ts, the offers by core/eval/cases/caseSchema.ts.
import * as vscode from 'vscode';
import schemaJson from '../../schemas/evals.schema.json';
import { CASE_SNIPPETS, keyDescription, keyOffers, valueOffers, type JsonSchema, type Offer } from '../core/eval/cases/caseSchema';
import { caseCursor, keyAt } from '../core/eval/cases/cursor';
import { CASES_SUFFIX } from '../protocol/evalCases';

const SCHEMA: JsonSchema = schemaJson;
const SELECTOR: vscode.DocumentSelector = { pattern: `**/*${CASES_SUFFIX}` };
const TRIGGERS = ['"', '{', ','];

function item(offer: Offer, kind: vscode.CompletionItemKind, range: vscode.Range, insert: string, filterText: string): vscode.CompletionItem {
  const it = new vscode.CompletionItem(offer.label, kind);
  it.detail = offer.detail;
  it.documentation = new vscode.MarkdownString(offer.documentation);
  it.insertText = new vscode.SnippetString(insert);
  it.range = range;
  it.filterText = filterText;
  return it;
}

export class CaseCompletion implements vscode.CompletionItemProvider, vscode.HoverProvider {
  provideCompletionItems(doc: vscode.TextDocument, pos: vscode.Position): vscode.CompletionItem[] | undefined {
    const text = doc.lineAt(pos.line).text;
    const at = caseCursor(text, pos.character);
    const range = (r: [number, number]) => new vscode.Range(pos.line, r[0], pos.line, r[1]);
    switch (at.kind) {
      case 'line':
        return CASE_SNIPPETS.map((o) => item(o, vscode.CompletionItemKind.Snippet, range([pos.character, pos.character]), o.insert, o.label));
      case 'key': {
        // Replacing a quoted half-key: filter on the text with its quote, as typed.
        const quoted = text[at.range[0]] === '"';
        const keys = keyOffers(SCHEMA, at.path, at.present).map((o) =>
          item(o, vscode.CompletionItemKind.Property, range(at.range), at.hasColon ? `"${o.label}"` : o.insert, quoted ? `"${o.label}"` : o.label),
        );
        // A line that is only `{` (or `{}`, its brace closed by the editor) may still become a whole case.
        const whole = /^\s*\{\s*\}?\s*$/.test(text) ? CASE_SNIPPETS.map((o) => item(o, vscode.CompletionItemKind.Snippet, range([0, text.length]), o.insert, o.insert)) : [];
        return [...keys, ...whole];
      }
      case 'value':
        return valueOffers(SCHEMA, at.path, at.inString).map((o) => item(o, vscode.CompletionItemKind.Value, range(at.range), o.insert, o.label));
      default:
        return undefined;
    }
  }

  provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const k = keyAt(doc.lineAt(pos.line).text, pos.character);
    const d = k && keyDescription(SCHEMA, [...k.path, k.key]);
    if (!k || !d) return undefined;
    const md = new vscode.MarkdownString(`**${k.key}** · ${d.detail}\n\n${d.documentation}`);
    return new vscode.Hover(md, new vscode.Range(pos.line, k.start, pos.line, k.end));
  }
}

/** Registers completion (triggered by `"`, `{` and `,`) and hover for case files, whatever language they are opened as. */
export function registerCaseCompletion(): vscode.Disposable {
  const provider = new CaseCompletion();
  return vscode.Disposable.from(
    vscode.languages.registerCompletionItemProvider(SELECTOR, provider, ...TRIGGERS),
    vscode.languages.registerHoverProvider(SELECTOR, provider),
  );
}
