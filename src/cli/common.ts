// Shared pieces of the CLI subcommands: option declarations, typed value readers, output helpers.

import { BACKEND_CHOICES, fieldRule as fieldRuleOf, flagHelp, parseFieldText, RUN_FIELDS, runField, type BackendChoice, type FieldValue, type RunField } from '../protocol/runConfig';

export { BACKEND_CHOICES };

export interface CliOption {
  type: 'string' | 'boolean';
  description: string;
  valueName?: string;
  default?: string;
}

export type CliValues = Record<string, string | boolean | undefined>;

export interface CliCommand {
  summary: string;
  synopsis: string;
  options: Record<string, CliOption>;
  /** The option a positional argument stands for (`lora-lab lint <file>` = `--data <file>`). */
  positional?: string;
  run(values: CliValues): Promise<number>;
}

/** Bad usage (exit code 2): a missing flag or a value outside its valid choices. */
export class CliUsageError extends Error {}

/**
 * `--rank -1` as `--rank=-1`: node's parseArgs takes a value starting with a dash for a forgotten
 * argument ("argument is ambiguous"); a negative number after a value-taking flag is its value, so
 * the flag's own range check answers (`--rank must be a whole number ≥ 1, got "-1"`).
 */
export function joinNegativeValues(args: readonly string[], options: Record<string, { type: 'string' | 'boolean' }>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const flag = /^--([^=]+)$/.exec(a)?.[1];
    const next = args[i + 1];
    if (flag !== undefined && options[flag]?.type === 'string' && next !== undefined && /^-(\d|\.\d|Infinity$)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

export function requireString(values: CliValues, flag: string): string {
  const v = values[flag];
  if (typeof v !== 'string' || v === '') throw new CliUsageError(`--${flag} is required`);
  return v;
}

export function optionalInt(values: CliValues, flag: string, min: number): number | undefined {
  const v = values[flag];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < min) throw new CliUsageError(`--${flag} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

export function optionalNumber(values: CliValues, flag: string): number | undefined {
  const v = values[flag];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isFinite(n)) throw new CliUsageError(`--${flag} must be a number, got "${v}"`);
  return n;
}

/** Comma-separated list ("q_proj,v_proj"); undefined when the flag is absent. */
export function optionalList(values: CliValues, flag: string): string[] | undefined {
  const v = values[flag];
  if (v === undefined) return undefined;
  const items = String(v).split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new CliUsageError(`--${flag} needs at least one value`);
  return items;
}

// Counts and sizes are printed as the narrator prints them (one definition, pure, in protocol).
export { formatBytes, formatInt } from '../protocol/progress';

/** A flag limited to listed values; undefined when absent. */
export function optionalChoice<T extends string>(values: CliValues, flag: string, allowed: readonly T[]): T | undefined {
  const v = values[flag];
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) throw new CliUsageError(`--${flag} must be one of ${allowed.join(', ')}, got "${v}"`);
  return v as T;
}

/** --backend, the run config's default when absent. */
export function backendFlag(values: CliValues): BackendChoice {
  return optionalChoice(values, 'backend', BACKEND_CHOICES) ?? (runField('run', 'backend').default as BackendChoice);
}

/** A run-config field's flag, with the table's help text and default. */
export function fieldOption(f: RunField): CliOption {
  return { type: f.kind === 'boolean' ? 'boolean' : 'string', valueName: f.valueName, ...flagHelp(f) };
}

/** The flags of every run-config field that has one. */
export function fieldOptions(): Record<string, CliOption> {
  return Object.fromEntries(RUN_FIELDS.filter((f) => f.flag).map((f) => [f.flag!, fieldOption(f)]));
}

/**
 * A run-config field's value from its flag, checked against the table; undefined when the flag is
 * absent (a boolean flag switches its field on, or off for a default-on field's --no-… flag).
 */
export function fieldFlagValue(values: CliValues, f: RunField): FieldValue | undefined {
  const raw = f.flag === undefined ? undefined : values[f.flag];
  if (raw === undefined) return undefined;
  if (f.kind === 'boolean') return raw === true ? !f.flagTurnsOff : undefined; // --no-… turns a default-on field off
  const text = String(raw);
  if (f.flagUnit) {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw new CliUsageError(`--${f.flag} must be a number of ${f.flagUnit.name} > 0, got "${text}"`);
    return Math.round(n * f.flagUnit.factor);
  }
  const parsed = parseFieldText(f, text);
  if (parsed === undefined) throw new CliUsageError(`--${f.flag} must be ${fieldRuleOf(f)}, got "${text}"`);
  if (typeof parsed === 'string') throw new CliUsageError(parsed.startsWith('must ') ? `--${f.flag} ${parsed}, got "${text}"` : `--${f.flag}: ${parsed}`);
  return parsed.value;
}

