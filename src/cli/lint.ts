// `lora-lab lint <file>`: every problem of a dataset (and its validation file) as training would
// meet it, like a compiler: `file:line: severity code: message`, or one JSON document with --json.
// Exit 1 when there are errors (training would refuse the data), 0 otherwise.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readConfig } from '../core/hf/config';
import { loadTokenizer, type LoraTokenizer } from '../core/hf/tokenizer';
import { lintDataset } from '../core/lint/lint';
import { describeFileSummary, type LintReport } from '../protocol/lint';
import { runField } from '../protocol/runConfig';
import { type CliCommand, fieldFlagValue, fieldOption, requireString } from './common';

const MAX_SEQ_LEN = runField('training', 'maxSeqLen');
const MAX_ROW_BYTES = runField('dataOptions', 'maxRowBytes');
const TEXT_COLUMN = runField('dataOptions', 'textColumn');
const PROMPT_COLUMN = runField('dataOptions', 'promptColumn');
const COMPLETION_COLUMN = runField('dataOptions', 'completionColumn');

/** Prints the report as a compiler would; returns the exit code. */
export function printLint(report: LintReport, out: (line: string) => void = console.log): void {
  const cwd = process.cwd();
  const rel = (f: string) => (path.isAbsolute(f) && f.startsWith(cwd + path.sep) ? path.relative(cwd, f) : f);
  for (const d of report.diagnostics) {
    out(`${rel(d.file)}:${d.line}${d.column ? `:${d.column}` : ''}: ${d.severity} ${d.code}: ${d.message}`);
  }
  const s = report.summary;
  out('');
  for (const f of s.files) out(`${rel(f.file)}: ${describeFileSummary(f, s.maxSeqLen)}`);
  if (s.skipped) out(`skipped: ${s.skipped}`);
  if (s.omitted) out(`(${s.omitted} more diagnostics of the same codes not listed; --json has the counts)`);
  out(`${s.errors} error${s.errors === 1 ? '' : 's'}, ${s.warnings} warning${s.warnings === 1 ? '' : 's'} in ${s.seconds.toFixed(1)} s${s.errors ? ': training would refuse this data' : ''}`);
}

export const lintCommand: CliCommand = {
  summary: 'Check a dataset as training would read it: every error, warning and the token statistics',
  synopsis: '<file> [--valid <file>] [--model <dir>] [--max-seq-len N] [--json]',
  positional: 'data',
  options: {
    data: { type: 'string', valueName: 'file', description: 'The dataset file (.jsonl .json .csv .tsv .txt); also the first argument' },
    valid: { type: 'string', valueName: 'file', description: 'Validation file (default: the valid/val/validation file next to it, as training uses)' },
    'no-valid': { type: 'boolean', description: 'Lint the file alone, even when a validation file sits next to it' },
    model: { type: 'string', valueName: 'dir', description: "Model folder: its tokenizer, chat template and vocabulary (without it only the structure is checked)" },
    'max-seq-len': fieldOption(MAX_SEQ_LEN),
    'max-row-bytes': fieldOption(MAX_ROW_BYTES),
    'text-column': fieldOption(TEXT_COLUMN),
    'prompt-column': fieldOption(PROMPT_COLUMN),
    'completion-column': fieldOption(COMPLETION_COLUMN),
    json: { type: 'boolean', description: 'Print one JSON document {"diagnostics": [...], "summary": {...}}' },
  },
  async run(values) {
    const file = path.resolve(requireString(values, 'data'));
    const maxSeqLen = (fieldFlagValue(values, MAX_SEQ_LEN) as number | undefined) ?? (MAX_SEQ_LEN.default as number);
    let tokenizer: LoraTokenizer | undefined;
    let vocab: { size: number; source: string } | undefined;
    let noTokenizerReason: string | undefined = 'no --model given';
    let model: string | undefined;
    if (typeof values.model === 'string') {
      model = path.resolve(values.model);
      const { spec, file: configFile } = readConfig(model);
      vocab = { size: spec.vocabSize, source: `vocab_size in ${configFile}` };
      tokenizer = loadTokenizer(fs.statSync(model).isDirectory() ? model : path.dirname(model));
      noTokenizerReason = tokenizer ? undefined : `${model} has no tokenizer.json`;
    }
    const report = await lintDataset(file, {
      validFile: values['no-valid'] ? false : typeof values.valid === 'string' ? path.resolve(values.valid) : undefined,
      tokenizer,
      vocab,
      model,
      noTokenizerReason,
      maxSeqLen,
      maxRowBytes: fieldFlagValue(values, MAX_ROW_BYTES) as number | undefined,
      columns: {
        text: fieldFlagValue(values, TEXT_COLUMN) as string | undefined,
        prompt: fieldFlagValue(values, PROMPT_COLUMN) as string | undefined,
        completion: fieldFlagValue(values, COMPLETION_COLUMN) as string | undefined,
      },
    });
    if (values.json) console.log(JSON.stringify(report));
    else printLint(report);
    return report.summary.errors > 0 ? 1 : 0;
  },
};
