// Runs the `lora-lab` CLI in-process (src/cli main) and captures what it prints with console.log
// and console.error, for tests of commands' output and exit codes.
import { vi } from 'vitest';
import { main } from '../../../src/cli';

export async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
  const error = vi.spyOn(console, 'error').mockImplementation((s: string) => void err.push(s));
  try {
    return { code: await main(args), out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}
