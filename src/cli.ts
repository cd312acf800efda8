// `lora-lab`: the engine from a terminal (plain Node, no VS Code). Subcommands live in
// src/cli/*; this file parses the command line, prints errors without stack traces, and sets
// the exit code (0 ok, 1 failure, 2 bad usage).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliUsageError, joinNegativeValues, type CliCommand } from './cli/common';
import { evalCommand } from './cli/eval';
import { examplesCommand } from './cli/examples';
import { exportCommand } from './cli/export';
import { importCommand } from './cli/import';
import { infoCommand } from './cli/info';
import { lintCommand } from './cli/lint';
import { mergeCommand } from './cli/merge';
import { paramsCommand } from './cli/params';
import { setupNativeCommand } from './cli/setupNative';
import { testCommand } from './cli/test';
import { trainCommand } from './cli/train';

const COMMANDS: Record<string, CliCommand> = {
  train: trainCommand,
  merge: mergeCommand,
  eval: evalCommand,
  test: testCommand,
  params: paramsCommand,
  lint: lintCommand,
  examples: examplesCommand,
  info: infoCommand,
  'setup-native': setupNativeCommand,
  export: exportCommand,
  import: importCommand,
};

function usage(): string {
  const lines = ['Usage: lora-lab <command> [options]', '', 'Commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(13)} ${c.summary}`);
  lines.push('', 'Run "lora-lab <command> --help" for the options of a command.');
  return lines.join('\n');
}

function commandHelp(name: string, c: CliCommand): string {
  const lines = [`Usage: lora-lab ${name} ${c.synopsis}`, '', c.summary, '', 'Options:'];
  for (const [flag, o] of Object.entries(c.options)) {
    const arg = o.type === 'string' ? ` <${o.valueName ?? 'value'}>` : '';
    lines.push(`  --${flag}${arg}`.padEnd(30) + o.description + (o.default !== undefined ? ` (default: ${o.default})` : ''));
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`lora-lab: unknown command "${name}". Commands: ${Object.keys(COMMANDS).join(', ')}`);
    return 2;
  }
  const options: ParseArgsConfig['options'] = { help: { type: 'boolean', short: 'h' } };
  for (const [flag, o] of Object.entries(cmd.options)) options[flag] = { type: o.type };
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({ args: joinNegativeValues(rest, cmd.options), options, strict: true, allowPositionals: cmd.positional !== undefined });
    values = parsed.values as Record<string, string | boolean | undefined>;
    if (cmd.positional !== undefined && parsed.positionals.length > 0) {
      if (parsed.positionals.length > 1 || values[cmd.positional] !== undefined) throw new Error(`one ${cmd.positional} only, got ${[values[cmd.positional], ...parsed.positionals].filter((v) => v !== undefined).map((v) => JSON.stringify(v)).join(', ')}`);
      values[cmd.positional] = parsed.positionals[0];
    }
  } catch (e) {
    console.error(`lora-lab ${name}: ${(e as Error).message}\n\n${commandHelp(name, cmd)}`);
    return 2;
  }
  if (values.help) {
    console.log(commandHelp(name, cmd));
    return 0;
  }
  try {
    return await cmd.run(values);
  } catch (e) {
    // Bad values (a rank of 0, an unknown target module) are usage errors: they name the valid choices.
    if (e instanceof CliUsageError || ['LoraConfigError', 'RunConfigError', 'EvalInputError'].includes((e as Error).name)) {
      console.error(`lora-lab ${name}: ${(e as Error).message}`);
      return 2;
    }
    const err = e as Error;
    console.error(`lora-lab ${name}: ${err.message}`);
    if (process.env.LORA_LAB_DEBUG) console.error(err.stack);
    return 1;
  }
}
