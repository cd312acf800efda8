// Tokenizing only as much of a long text as a max_seq_len example can keep. A row under the byte
// cap (8 MiB) can still be thousands of times longer than max_seq_len tokens, and tokenizing it
// whole before truncation cost seconds and hundreds of MB per row (issue 13). The text is cut at a
// clean boundary, a single space between two non-space characters, and only the part before it
// is tokenized; the budget doubles until that part gives enough tokens.
//
// Why the first tokens do not change: every pre-tokenizer that splits at spaces (GPT-2's ByteLevel
// regex, as in GPT-2, Llama 3, Qwen; Metaspace, as in Mistral and Llama 2; Whitespace, BERT) ends a
// piece before such a space in the whole text too, and BPE, WordPiece and Unigram run on each
// piece alone; the regex's one look-ahead, (?!\S), sees a space or the end of the text, both
// "not \S". So the pieces before the cut, and their tokens, are the same with or without what
// follows. A tokenizer without a pre-tokenizer (SentencePiece BPE over the whole text) keeps this
// as long as no token spans a space between two words, which its vocabularies are built to ensure;
// `keepsPrefixes` probes the property once per tokenizer and a tokenizer that fails is never cut.
import type { LoraTokenizer } from '../hf/tokenizer';

/**
 * Characters allowed per wanted token in the first cut: GPT-2 averages about 4 characters a token
 * on English, code about 3; twice that makes a retry rare, and a retry only doubles the budget.
 */
const CHARS_PER_TOKEN = 8;

/** Characters a tokenizer's idea of whitespace may cover (JavaScript's \s, Unicode White_Space, and zero-width ones some normalizers drop). */
const SPACE_LIKE = /[\s\u0085\u180e\u200b-\u200d\u2060]/;

/** Texts whose tokens, cut before their last space, must start with the tokens of the part before it. */
const PROBES = ['hello world', 'The end. Next', "don't stop", 'x y', '12 34', 'über straße', 'a,b c', '<|endoftext|> hi', 'def f(x): return', '日本 語', 'ab ab'];

/** Whether cutting a text at a clean space keeps the tokens before it (checked on PROBES). */
export function keepsPrefixes(tokenizer: LoraTokenizer): boolean {
  try {
    return PROBES.every((text) => {
      const whole = tokenizer.encode(text);
      const head = tokenizer.encode(text.slice(0, text.lastIndexOf(' ')));
      return head.every((id, k) => whole[k] === id);
    });
  } catch {
    return false; // a probe it cannot tokenize (no unk_token): never cut
  }
}

/**
 * The last clean cut at or before `at` and after `at / 2`: an index c with text[c] a plain space
 * between two characters that are no kind of space, so text.slice(0, c) ends a piece. Undefined
 * when there is none (a text without spaces, e.g. Chinese or minified code: tokenized whole).
 */
export function cleanCut(text: string, at: number): number | undefined {
  for (let c = Math.min(at, text.length - 2); c > at / 2 && c > 0; c--) {
    if (text.charCodeAt(c) === 0x20 && !SPACE_LIKE.test(text[c - 1]) && !SPACE_LIKE.test(text[c + 1])) return c;
  }
  return undefined;
}

/**
 * Token ids of `text` (no special tokens), or, when `text` is long, of a prefix of it that gives at
 * least `need` tokens: those are the first tokens of the whole text, and the whole text has more.
 * `whole` says which one it is. `cuts` false tokenizes everything (a tokenizer that failed the probe).
 */
export function encodeBounded(tokenizer: LoraTokenizer, text: string, need: number, cuts: boolean): { ids: number[]; whole: boolean } {
  if (cuts && need > 0) {
    for (let budget = need * CHARS_PER_TOKEN; budget < text.length - 1; budget *= 2) {
      const cut = cleanCut(text, budget);
      if (cut === undefined) continue;
      const ids = tokenizer.encode(text.slice(0, cut));
      if (ids.length >= need) return { ids, whole: false };
    }
  }
  return { ids: tokenizer.encode(text), whole: true };
}
