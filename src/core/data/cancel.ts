// Cancelling a long data pass: the readers and the tokenizer loop check the session's AbortSignal
// every CHECK_EVERY rows, after yielding to the event loop so that a SIGINT handler or a worker's
// `cancel` message gets to run between rows (a stream's buffered chunks otherwise resolve as
// microtasks, and a 200k-row file would be read to its end before the signal was seen).

/** Rows between two checks of the signal: a few milliseconds of tokenizing. */
export const CHECK_EVERY = 2000;

/** Thrown when the signal is seen aborted; `stage` and `row` say where, `file` which file. */
export class CancelledError extends Error {
  constructor(
    readonly stage: string,
    readonly file?: string,
    /** Rows of `file` read when the signal was seen. */
    readonly row?: number,
    /** Rows of `file` in all, when a first pass counted them. */
    readonly rows?: number,
  ) {
    const at = row === undefined ? '' : ` (row ${row.toLocaleString('en-US')}${rows !== undefined ? ` of ${rows.toLocaleString('en-US')}` : ''})`;
    super(`cancelled while ${stage}${file ? ` ${file}` : ''}${at}`);
    this.name = 'CancelledError';
  }
}

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Every CHECK_EVERY-th `count`: yield to the event loop, then throw CancelledError when `signal` is aborted. */
export async function checkpointRows(signal: AbortSignal | undefined, count: number, stage: string, file: string): Promise<void> {
  if (!signal || count % CHECK_EVERY !== 0) return;
  await yieldToEventLoop();
  if (signal.aborted) throw new CancelledError(stage, file, count);
}
