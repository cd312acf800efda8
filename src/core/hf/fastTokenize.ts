// A faster route to the exact ids @huggingface/tokenizers 0.2.0 gives, for the byte-level BPE
// tokenizers training meets (GPT-2, Llama 3, Qwen 2/3: a Split pre-tokenizer then ByteLevel,
// then BPE). Why: the library redoes, for every pre-token of every row, a TextEncoder call, a
// byte→unicode Array.from(...).join, and the BPE cache lookup, and walks an added-token trie over
// every character; on 200k rows of ~30 tokens that was 80 s of `lora-lab lint` (issue 14).
//
// How: the same steps in the same order, on the library's own objects (its added-token splitters,
// normalizer, Split regex, ByteLevel and BPE), except that
//   1. a text holding no first character of any added token skips the splitter's trie walk
//      (the splitter can only match at such a character, so the result is [text] either way);
//   2. the ids of one pre-token (the Split's piece) are memoised: ByteLevel and BPE map each
//      piece independently of its neighbours, so a piece always gives the same ids. The memo
//      is bounded (two generations, MEMO_CAPACITY entries in all; pieces over MAX_PIECE_LENGTH
//      are not kept);
//   3. the post-processor's frame (BOS/EOS around the sequence) is found once, by probing it;
//   4. the Split's regex runs in an exec loop on our own copy of the library's compiled pattern
//      (regex_split's matchAll clones the RegExp on every call), with matchAll's rules for gaps
//      and empty matches.
// Nothing here tokenises on its own: a miss runs the library's ByteLevel and BPE on the piece.
//
// Guard: `createFastEncoder` checks the library internals it reads (by class and field) and
// that the fast ids equal the library's on a few probe texts; when anything differs it returns
// the reason instead, and LoraTokenizer uses the library's plain encode. The unit test
// (tokenizerFast.test.ts) fails with that reason when a known tokenizer loses the fast path,
// so a library upgrade that moves these internals is seen, not silently slow or wrong.
import {
  BPE,
  ByteLevelPostProcessor,
  ByteLevelPreTokenizer,
  SequencePostProcessor,
  SequencePreTokenizer,
  SplitPreTokenizer,
  TemplateProcessingPostProcessor,
  type Tokenizer,
} from '@huggingface/tokenizers';

/** Pre-tokens memoised, both generations together: ~10–20 MB at most for word-sized pieces. */
export const MEMO_CAPACITY = 100_000;
/** Longer pieces (long whitespace runs, base64 blobs) are rare repeats; they are not memoised. */
const MAX_PIECE_LENGTH = 64;

/** Texts whose fast ids must equal the library's before the fast path is used. */
const SELF_CHECK = ['Hello world', " it's  a\r\n\n  test\t 123456 ", 'naïve café 東京 😀 x', '<|endoftext|>a<|im_end|> b', ''];

type Callable<A extends unknown[], R> = ((...args: A) => R) & object;

interface AddedTokenLike {
  id: number;
  lstrip: boolean;
  rstrip: boolean;
}

interface SplitterLike {
  trie: Record<string, unknown>;
  split(text: string): string[];
}

/** What encode_text, tokenize_helper and encode of @huggingface/tokenizers 0.2.0 read. */
interface TokenizerInternals {
  encode_text: unknown;
  splitter_unnormalized: SplitterLike;
  splitter_normalized: SplitterLike;
  added_tokens_map: Map<string, AddedTokenLike>;
  normalizer: Callable<[string], string> | null;
  pre_tokenizer: unknown;
  model: Callable<[string[]], string[]> & { tokens_to_ids: Map<string, number>; unk_token_id?: number; fuse_unk: boolean };
  post_processor: (Callable<[string[], null, boolean], { tokens: string[] }> & object) | null;
  remove_space?: unknown;
  do_lowercase_and_remove_accent?: unknown;
}

interface PreTokenizerLike {
  pre_tokenize(text: string | string[], options?: unknown): string[];
  pre_tokenize_text(text: string, options?: unknown): string[];
}

export interface FastEncoder {
  /** The ids the library's encode(text, {add_special_tokens}) gives, or undefined where a token has no id (use the library then). */
  encode(text: string, addSpecialTokens: boolean): number[] | undefined;
}

/**
 * The library's regex_split (Split with invert false and any behavior but "removed"): the text
 * between matches and the non-empty matches, in order. An empty match advances lastIndex by one
 * code point (one code unit without the u/v flag), as String.prototype.matchAll does.
 */
function regexSplit(text: string, re: RegExp, fullUnicode: boolean): string[] {
  const out: string[] = [];
  let prev = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const match = m[0];
    if (prev < m.index) out.push(text.slice(prev, m.index));
    if (match.length > 0) {
      out.push(match);
    } else {
      const at = re.lastIndex;
      const cp = fullUnicode ? text.codePointAt(at) : undefined;
      re.lastIndex = at + (cp !== undefined && cp > 0xffff ? 2 : 1);
    }
    prev = m.index + match.length;
  }
  if (prev < text.length) out.push(text.slice(prev));
  return out;
}

/** The Split step as a function: our regexSplit where the library would call regex_split, else the library's own. */
function splitStep(split: PreTokenizerLike): (text: string) => string[] {
  const { pattern, config } = split as unknown as { pattern?: unknown; config?: { invert?: unknown; behavior?: unknown } };
  const removed = typeof config?.behavior === 'string' && config.behavior.toLowerCase() === 'removed';
  if (!(pattern instanceof RegExp) || !pattern.global || config?.invert || removed) return (text) => split.pre_tokenize_text(text);
  const re = new RegExp(pattern.source, pattern.flags);
  const fullUnicode = re.unicode || re.flags.includes('v');
  return (text) => regexSplit(text, re, fullUnicode);
}

/** A character class matching any first character of the splitter's words; undefined when it has none. */
function firstCharPattern(splitter: SplitterLike): RegExp | undefined {
  const firsts = Object.keys(splitter.trie).filter((k) => k.length === 1);
  if (firsts.length === 0) return undefined;
  const cls = firsts.map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
  return new RegExp(`[${cls}]`); // no `u` flag: code units, as the splitter's text[j]
}

function isSplitter(v: unknown): v is SplitterLike {
  return typeof v === 'object' && v !== null && typeof (v as SplitterLike).split === 'function' && typeof (v as SplitterLike).trie === 'object';
}

/** Why the library's internals are not the shape this file knows, or undefined when they are. */
function unsupported(t: TokenizerInternals): string | undefined {
  if (typeof t.encode_text !== 'function') return 'Tokenizer.encode_text is gone';
  if (!isSplitter(t.splitter_unnormalized) || !isSplitter(t.splitter_normalized)) return 'the added-token splitters (splitter_unnormalized/splitter_normalized) changed';
  if (!(t.added_tokens_map instanceof Map)) return 'Tokenizer.added_tokens_map is not a Map';
  if (t.remove_space === true || t.do_lowercase_and_remove_accent === true) return 'remove_space / do_lowercase_and_remove_accent is on';
  if (t.normalizer !== null && typeof t.normalizer !== 'function') return 'the normalizer is not callable';
  if (!(t.model instanceof BPE)) return 'the model is not BPE';
  if (t.model.fuse_unk !== false) return 'the BPE model fuses unknown tokens';
  if (!(t.model.tokens_to_ids instanceof Map)) return 'BPE.tokens_to_ids is not a Map';
  const pre = t.pre_tokenizer;
  if (!(pre instanceof SequencePreTokenizer)) return 'the pre-tokenizer is not a Sequence';
  const steps = (pre as unknown as { tokenizers?: unknown }).tokenizers;
  if (!Array.isArray(steps) || steps.length < 2 || !(steps[0] instanceof SplitPreTokenizer)) return 'the pre-tokenizer does not start with a Split';
  if (!steps.slice(1).every((s) => s instanceof ByteLevelPreTokenizer)) return 'the pre-tokenizer is not Split then ByteLevel';
  if (!knownPostProcessor(t.post_processor)) return 'the post-processor is not ByteLevel/TemplateProcessing/Sequence';
  return undefined;
}

function knownPostProcessor(p: unknown): boolean {
  if (p === null || p instanceof ByteLevelPostProcessor || p instanceof TemplateProcessingPostProcessor) return true;
  if (!(p instanceof SequencePostProcessor)) return false;
  const inner = (p as unknown as { processors?: unknown }).processors;
  return Array.isArray(inner) && inner.every(knownPostProcessor);
}

/** The tokens the post-processor puts before and after a sequence; undefined when it does more than frame it. */
function probeFrame(post: TokenizerInternals['post_processor'], add: boolean): { before: string[]; after: string[] } | undefined {
  const run = (tokens: string[]): string[] => (post === null ? tokens : post([...tokens], null, add).tokens);
  const a = '\u0000lora-lab-probe-a';
  const b = '\u0000lora-lab-probe-b';
  const one = run([a]);
  const at = one.indexOf(a);
  if (at < 0 || one.lastIndexOf(a) !== at) return undefined;
  const before = one.slice(0, at);
  const after = one.slice(at + 1);
  const same = (x: string[], y: string[]): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  if (!same(run([]), [...before, ...after]) || !same(run([a, b]), [...before, a, b, ...after])) return undefined;
  return { before, after };
}

/** A bounded memo: two generations; a hit in the old one moves to the new; a full new one retires the old. */
export class PieceMemo {
  private young = new Map<string, number[]>();
  private old = new Map<string, number[]>();
  constructor(private readonly half: number) {}

  get(key: string): number[] | undefined {
    const hit = this.young.get(key);
    if (hit !== undefined) return hit;
    const aged = this.old.get(key);
    if (aged !== undefined) this.set(key, aged);
    return aged;
  }

  set(key: string, ids: number[]): void {
    if (this.young.size >= this.half) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, ids);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }
}

class ByteLevelBpeEncoder implements FastEncoder {
  private readonly split: (text: string) => string[];
  private readonly byteLevel: PreTokenizerLike[];
  private readonly unnormalizedFirst: RegExp | undefined;
  private readonly normalizedFirst: RegExp | undefined;
  private readonly frames: [number[] | undefined, number[] | undefined][];
  private readonly memo = new PieceMemo(MEMO_CAPACITY / 2);

  constructor(private readonly t: TokenizerInternals) {
    const steps = (t.pre_tokenizer as { tokenizers: PreTokenizerLike[] }).tokenizers;
    this.split = splitStep(steps[0]);
    this.byteLevel = steps.slice(1);
    this.unnormalizedFirst = firstCharPattern(t.splitter_unnormalized);
    this.normalizedFirst = firstCharPattern(t.splitter_normalized);
    this.frames = [false, true].map((add) => {
      const frame = probeFrame(t.post_processor, add);
      return frame ? [this.idsOf(frame.before), this.idsOf(frame.after)] : [undefined, undefined];
    });
  }

  /** The library's token → id rule (Tokenizer.encode); undefined when any token has no id. */
  private idsOf(tokens: string[]): number[] | undefined {
    const { added_tokens_map: added, model } = this.t;
    const ids = new Array<number>(tokens.length);
    for (let i = 0; i < tokens.length; i++) {
      const id = added.get(tokens[i])?.id ?? model.tokens_to_ids.get(tokens[i]) ?? model.unk_token_id;
      if (id === undefined) return undefined;
      ids[i] = id;
    }
    return ids;
  }

  /** Ids of one Split piece: ByteLevel then BPE, as the library's Sequence and model do per piece. */
  private pieceIds(piece: string): number[] | undefined {
    const cached = this.memo.get(piece);
    if (cached !== undefined) return cached;
    let mapped = [piece];
    for (const step of this.byteLevel) mapped = step.pre_tokenize(mapped);
    const ids = this.idsOf(this.t.model(mapped));
    if (ids !== undefined && piece.length <= MAX_PIECE_LENGTH) this.memo.set(piece, ids);
    return ids;
  }

  /** encode_text's added-token split, with the trie walk skipped where it cannot match. */
  private static sections(text: string, splitter: SplitterLike, first: RegExp | undefined, added: Map<string, AddedTokenLike>): string[] {
    if (first === undefined || !first.test(text)) return [text];
    const sections = splitter.split(text);
    for (let i = 0; i < sections.length; i++) {
      const token = added.get(sections[i]);
      if (!token) continue;
      if (token.lstrip && i > 0) sections[i - 1] = sections[i - 1].trimEnd();
      if (token.rstrip && i < sections.length - 1) sections[i + 1] = sections[i + 1].trimStart();
    }
    return sections;
  }

  encode(text: string, addSpecialTokens: boolean): number[] | undefined {
    const [before, after] = this.frames[addSpecialTokens ? 1 : 0];
    if (before === undefined || after === undefined) return undefined;
    const { added_tokens_map: added, normalizer } = this.t;
    const out = before.slice();
    for (const section of ByteLevelBpeEncoder.sections(text, this.t.splitter_unnormalized, this.unnormalizedFirst, added)) {
      if (section.length === 0) continue;
      const whole = added.get(section);
      if (whole !== undefined) {
        out.push(whole.id);
        continue;
      }
      const normalized = normalizer === null ? section : normalizer(section);
      if (normalized.length === 0) continue;
      for (const sub of ByteLevelBpeEncoder.sections(normalized, this.t.splitter_normalized, this.normalizedFirst, added)) {
        if (sub.length === 0) continue;
        const token = added.get(sub);
        if (token !== undefined) {
          out.push(token.id);
          continue;
        }
        for (const piece of this.split(sub)) {
          const ids = this.pieceIds(piece);
          if (ids === undefined) return undefined;
          for (let i = 0; i < ids.length; i++) out.push(ids[i]);
        }
      }
    }
    for (let i = 0; i < after.length; i++) out.push(after[i]);
    return out;
  }
}

/**
 * The fast encoder for `inner`, or the reason there is none (a tokenizer of another shape, or a
 * library whose internals or results differ from 0.2.0's): then use the library's encode.
 */
export function createFastEncoder(inner: Tokenizer): FastEncoder | string {
  const t = inner as unknown as TokenizerInternals;
  const why = unsupported(t);
  if (why !== undefined) return why;
  const fast = new ByteLevelBpeEncoder(t);
  for (const text of SELF_CHECK) {
    for (const add of [false, true]) {
      const want = inner.encode(text, { add_special_tokens: add }).ids;
      const got = fast.encode(text, add);
      if (got !== undefined && (got.length !== want.length || got.some((id, i) => id !== want[i]))) {
        return `its ids differ from the library's on ${JSON.stringify(text)} (add_special_tokens ${add})`;
      }
    }
  }
  return fast;
}
