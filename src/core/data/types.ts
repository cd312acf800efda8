// The data pipeline's public vocabulary: dataset formats, examples (token ids + loss weights),
// row problems, reports and options. No logic lives here.

/**
 * How a file's rows are shaped, detected from the file (never configured):
 * - text: {"text"} (JSON) or a `text` column (CSV/TSV); loss on every token.
 * - prompt-completion: {"prompt","completion"} or such columns; loss on the completion only.
 * - messages: {"messages":[{role, content}, ...]} rendered with the model's chat template; loss
 *   on assistant turns only.
 * - input-ids: {"input_ids":[...]} already tokenized; loss on every position.
 * - plain-text: a .txt file, tokenized as one stream and cut into max_seq_len windows.
 */
export type DatasetFormat = 'text' | 'prompt-completion' | 'messages' | 'input-ids' | 'plain-text';

/** What to do with malformed rows: drop them (and report), or refuse the dataset. */
export type BadRowPolicy = 'skip' | 'fail';

/**
 * One training sequence. weights[t] is the loss weight of token t being predicted from the tokens
 * before it (the model's convention: position t predicts ids[t+1] with weight weights[t+1]), so
 * weights[0] is always 0 here: nothing predicts the first token.
 */
export interface Example {
  ids: number[];
  weights: number[];
  /** 1-based line of the row in its file (for .txt: the first line of the text chunk the window starts in). */
  line: number;
  /** Whether the row was longer than max_seq_len and cut. */
  truncated: boolean;
}

export interface RowProblem {
  file: string;
  line: number;
  reason: string;
}

export interface DatasetReport {
  file: string;
  format: DatasetFormat;
  examples: number;
  /** All tokens of all examples (after truncation). */
  tokens: number;
  /** Tokens that carry loss (weight > 0, first position excluded). */
  lossTokens: number;
  /** Examples cut to max_seq_len. Always 0 for plain-text, which is windowed instead. */
  truncated: number;
  /** Rows dropped because of a problem (policy 'skip'); the true count even when `problems` is capped. */
  skipped: number;
  /** The first MAX_KEPT_PROBLEMS problems, in file order. */
  problems: RowProblem[];
  /** Rows left out by the file's exclusion list (`<file>.lora-lab-exclude.json`, see exclusions.ts). */
  excluded?: {
    /** The exclusion file. */
    file: string;
    /** Rows (for .txt: windows) left out. */
    rows: number;
    /** The listed line numbers. */
    lines: number[];
    /** Set when the dataset changed since the list was written. */
    stale?: string;
  };
}

/** Names of the fields (JSON) / columns (CSV, TSV) that hold each part of a row. */
export interface ColumnNames {
  text?: string;
  prompt?: string;
  completion?: string;
}

/** Options of the structural pass (no tokenizer). */
export interface CheckOptions {
  /** Default 'fail'. */
  policy?: BadRowPolicy;
  columns?: ColumnNames;
  /** When given, input_ids must lie in [0, vocabSize); pass the model's config.json vocab_size. */
  vocabSize?: number;
  /** Where vocabSize is written, for messages, e.g. "vocab_size in /m/config.json". */
  vocabSource?: string;
  /**
   * Largest row in bytes (a JSON Lines line, a .json array element, a CSV record, a .txt line),
   * enforced while reading, before tokenizing. Default DEFAULT_MAX_ROW_BYTES (8 MiB).
   */
  maxRowBytes?: number;
  /** Checked every few thousand rows (after a yield to the event loop); aborted → CancelledError. */
  signal?: AbortSignal;
  /** Read every row, even those on the file's exclusion list (`<file>.lora-lab-exclude.json`). */
  ignoreExclusions?: boolean;
}

export interface DataOptions extends CheckOptions {
  /** Longest example in tokens; longer rows are cut, .txt is windowed to this length. At least 2. */
  maxSeqLen: number;
  /** Validation file; when absent a sibling valid/val/validation file is used, else a split. */
  validFile?: string;
  /** Fraction of the training examples held out when there is no validation file. Default 0.1; 0 = no validation. */
  validFraction?: number;
  /** Seed of the held-out split. Default 0. */
  seed?: number;
}

/** Where the validation examples came from ('none': validFraction 0 and no file). */
export type ValidSource = 'file' | 'sibling' | 'split' | 'none';

/** One padded training batch, ready for `CausalLM.loss(ids, weights)`. */
export interface Batch {
  /** [B, T] token ids, right-padded to the longest row with the pad id. */
  ids: number[][];
  /** [B, T] loss weights, 0 on padding. */
  weights: number[][];
  /** Real (non-padding) tokens in the batch. */
  tokens: number;
  /** Tokens that carry loss (what the mean loss is taken over). */
  lossTokens: number;
  /** Indices into the example array, in batch order. */
  indices: number[];
}
