// Text <-> token ids for a local Hugging Face model: tokenizer.json (+ tokenizer_config.json)
// through @huggingface/tokenizers, plus the few facts training needs (special tokens, vocab
// size, chat template, context length). No tokenisation logic of our own lives here: encode
// goes through fastTokenize.ts (the library's own steps, memoised per pre-token) where the
// tokenizer has the byte-level BPE shape it knows, and through the library's encode otherwise.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { createFastEncoder, type FastEncoder } from './fastTokenize';

export interface SpecialToken {
  text: string;
  id: number;
}

export interface SpecialTokens {
  bos?: SpecialToken;
  eos?: SpecialToken;
  pad?: SpecialToken;
  unk?: SpecialToken;
}

export interface EncodeOptions {
  /** Add BOS/EOS etc. as the post-processor and add_bos_token/add_eos_token say. Default false. */
  addSpecialTokens?: boolean;
}

export interface LoadOptions {
  /** Use fastTokenize.ts where it applies (same ids, faster). Default true; false for the library's encode alone (tests, benchmarks). */
  fastPath?: boolean;
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
}

type JsonObject = Record<string, unknown>;

/** tokenizer_config.json keys whose value is a token: a string or an AddedToken object {content}. */
const TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'] as const;

/**
 * transformers writes int(1e30) as model_max_length when a model sets none; any value that is
 * not a safe integer is treated as "no limit known".
 */
function readModelMaxLength(config: JsonObject): number | undefined {
  const v = config.model_max_length;
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

/** A token written as "text" or as {content: "text", ...}; null/missing → undefined. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

/** chat_template: a string, or a list of {name, template} of which "default" is the one to use. */
function readChatTemplate(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value.find((t: unknown) => isObject(t) && t.name === 'default');
    return isObject(named) && typeof named.template === 'string' ? named.template : undefined;
  }
  return undefined;
}

/** The split pattern of Hugging Face's ByteLevel pre-tokenizer (GPT-2's), used when use_regex is on. */
const BYTE_LEVEL_SPLIT = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

/**
 * @huggingface/tokenizers 0.2.0 runs ByteLevel's built-in split with JavaScript's `\s`, which
 * counts U+FEFF as whitespace and U+0085 not, unlike the Rust library (" \uFEFFy" splits
 * differently). The same split written as a Split pre-tokenizer goes through the library's
 * regex translation, which uses Unicode White_Space, so the ids match Hugging Face's. This is
 * the equivalence Hugging Face itself documents (Split(pattern, "isolated") + ByteLevel without
 * regex). With add_prefix_space the space is added before the split, which a Split-first
 * sequence cannot express, so those are left as they are.
 */
function withUnicodeByteLevelSplit(pre: unknown): unknown {
  if (!isObject(pre)) return pre;
  if (pre.type === 'Sequence' && Array.isArray(pre.pretokenizers)) {
    return { ...pre, pretokenizers: pre.pretokenizers.map(withUnicodeByteLevelSplit) };
  }
  if (pre.type !== 'ByteLevel' || pre.use_regex === false || pre.add_prefix_space === true) return pre;
  return {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: BYTE_LEVEL_SPLIT }, behavior: 'Isolated', invert: false },
      { ...pre, use_regex: false },
    ],
  };
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readJsonFile(path: string): JsonObject {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`Cannot read ${path}: ${(e as Error).message}. Check that the file exists and is readable.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(
      `${path} is not valid JSON (${(e as Error).message}). The file is damaged or incomplete: download it again or re-save it with transformers' save_pretrained().`,
    );
  }
  if (!isObject(parsed)) {
    throw new Error(`${path} must hold a JSON object, found ${Array.isArray(parsed) ? 'an array' : typeof parsed}. Download it again.`);
  }
  return parsed;
}

/**
 * The config as the library reads it: token fields flattened to strings, and
 * clean_up_tokenization_spaces defaulting to false (transformers' current default; the
 * library would default to true, which breaks decode(encode(s)) === s for "a ,b").
 */
function libraryConfig(config: JsonObject): JsonObject {
  const out: JsonObject = { ...config, clean_up_tokenization_spaces: config.clean_up_tokenization_spaces === true };
  for (const key of TOKEN_KEYS) out[key] = tokenText(config[key]) ?? null;
  if (Array.isArray(config.additional_special_tokens)) {
    out.additional_special_tokens = config.additional_special_tokens.map(tokenText).filter((t) => t !== undefined);
  }
  return out;
}

export class LoraTokenizer {
  /** Number of ids, added tokens included (highest id + 1). */
  readonly vocabSize: number;
  readonly special: SpecialTokens;
  readonly chatTemplate?: string;
  readonly modelMaxLength?: number;
  /** Where the tokenizer came from, for error messages. */
  readonly source: string;

  /** 'fast', or why encode goes through the library's plain encode (see fastTokenize.ts). */
  readonly encodePath: string;

  private readonly inner: Tokenizer;
  private readonly fast: FastEncoder | undefined;
  /** What to add to / remove from the post-processor's output so add_bos_token/add_eos_token hold. */
  private readonly bosFix: 'add' | 'remove' | 'keep';
  private readonly eosFix: 'add' | 'remove' | 'keep';

  private constructor(inner: Tokenizer, config: JsonObject, source: string, options: LoadOptions) {
    this.inner = inner;
    const fast = options.fastPath === false ? 'turned off' : createFastEncoder(inner);
    this.fast = typeof fast === 'string' ? undefined : fast;
    this.encodePath = typeof fast === 'string' ? `plain: ${fast}` : 'fast';
    this.source = source;
    this.vocabSize = inner.model?.vocab.length ?? 0;
    const resolve = (key: string): SpecialToken | undefined => {
      const text = tokenText(config[key]);
      const id = text === undefined ? undefined : inner.token_to_id(text);
      return text === undefined || id === undefined ? undefined : { text, id };
    };
    this.special = {};
    for (const [name, key] of [['bos', 'bos_token'], ['eos', 'eos_token'], ['pad', 'pad_token'], ['unk', 'unk_token']] as const) {
      const tok = resolve(key);
      if (tok) this.special[name] = tok;
    }
    const chatTemplate = readChatTemplate(config.chat_template);
    if (chatTemplate !== undefined) this.chatTemplate = chatTemplate;
    const maxLen = readModelMaxLength(config);
    if (maxLen !== undefined) this.modelMaxLength = maxLen;

    // What the post-processor adds around a plain word is its template (BOS and EOS may be one id).
    const plain = inner.encode('a', { add_special_tokens: false }).ids;
    const framed = inner.encode('a', { add_special_tokens: true }).ids;
    const { bos, eos } = this.special;
    const addsBos = bos !== undefined && framed[0] === bos.id && plain[0] !== bos.id;
    const addsEos = eos !== undefined && framed[framed.length - 1] === eos.id && plain[plain.length - 1] !== eos.id;
    this.bosFix = LoraTokenizer.fix(config.add_bos_token, addsBos, bos);
    this.eosFix = LoraTokenizer.fix(config.add_eos_token, addsEos, eos);
  }

  private static fix(flag: unknown, postProcessorAdds: boolean, tok: SpecialToken | undefined): 'add' | 'remove' | 'keep' {
    if (tok === undefined || typeof flag !== 'boolean' || flag === postProcessorAdds) return 'keep';
    return flag ? 'add' : 'remove';
  }

  static fromFiles(tokenizerJsonPath: string, tokenizerConfigPath?: string, options: LoadOptions = {}): LoraTokenizer {
    const json = readJsonFile(tokenizerJsonPath);
    const config = tokenizerConfigPath === undefined ? {} : readJsonFile(tokenizerConfigPath);
    return LoraTokenizer.fromObjects(json, config, tokenizerJsonPath, options);
  }

  static fromObjects(tokenizerJson: object, tokenizerConfig: object = {}, source = 'tokenizer.json', options: LoadOptions = {}): LoraTokenizer {
    if (!isObject(tokenizerJson) || !isObject(tokenizerJson.model)) {
      throw new Error(`${source} has no "model" object, so it is not a Hugging Face tokenizer.json. Use the tokenizer.json saved with the model.`);
    }
    if (!isObject(tokenizerConfig)) {
      throw new Error(`The tokenizer_config for ${source} must be a JSON object.`);
    }
    // The library expects every top-level section to be present (null when unused), as the
    // Rust tokenizers library writes them; hand-written files often leave them out.
    const json: JsonObject = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...tokenizerJson };
    json.pre_tokenizer = withUnicodeByteLevelSplit(json.pre_tokenizer);
    let inner: Tokenizer;
    try {
      inner = new Tokenizer(json, libraryConfig(tokenizerConfig));
    } catch (e) {
      throw new Error(
        `${source} could not be loaded as a tokenizer (${(e as Error).message}). It may be damaged or use a feature @huggingface/tokenizers does not support; re-save it with a recent transformers or tokenizers.`,
      );
    }
    return new LoraTokenizer(inner, tokenizerConfig, source, options);
  }

  /** Token ids of `text`; with addSpecialTokens, BOS/EOS as the tokenizer adds them. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const add = opts.addSpecialTokens ?? false;
    const ids = this.fast?.encode(text, add) ?? this.plainIds(text, add);
    if (!add) return ids;
    const { bos, eos } = this.special;
    if (bos && this.bosFix === 'add') ids.unshift(bos.id);
    if (bos && this.bosFix === 'remove' && ids[0] === bos.id) ids.shift();
    if (eos && this.eosFix === 'add') ids.push(eos.id);
    if (eos && this.eosFix === 'remove' && ids[ids.length - 1] === eos.id) ids.pop();
    return ids;
  }

  /** The library's encode; a piece with no id (no unk_token) is an error naming the piece. */
  private plainIds(text: string, add: boolean): number[] {
    const { ids, tokens } = this.inner.encode(text, { add_special_tokens: add });
    const missing = ids.findIndex((id) => id === undefined);
    if (missing >= 0) {
      throw new Error(
        `${this.source}: the piece ${JSON.stringify(tokens[missing])} of the text has no id and the tokenizer defines no unk_token. The text holds characters this tokenizer cannot represent; remove them.`,
      );
    }
    return ids;
  }

  decode(ids: number[], opts: DecodeOptions = {}): string {
    const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= this.vocabSize);
    if (bad !== undefined) {
      throw new Error(`decode: token id ${bad} is outside the vocabulary of ${this.source} (0..${this.vocabSize - 1}). The ids come from another tokenizer or model.`);
    }
    if (ids.length === 0) return '';
    return this.inner.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token);
  }
}

/**
 * The tokenizer of a Hugging Face model folder, or undefined when it has no tokenizer.json
 * (such a model still loads; only text inputs need a tokenizer). Like transformers'
 * from_pretrained: chat_template.jinja, when present, wins over tokenizer_config.json's
 * chat_template; special_tokens_map.json is read only for older configs that have no
 * added_tokens_decoder, and then its tokens win.
 */
export function loadTokenizer(modelDir: string, options: LoadOptions = {}): LoraTokenizer | undefined {
  const jsonPath = join(modelDir, 'tokenizer.json');
  if (!existsSync(jsonPath)) return undefined;
  const configPath = join(modelDir, 'tokenizer_config.json');
  const config = existsSync(configPath) ? readJsonFile(configPath) : {};
  const mapPath = join(modelDir, 'special_tokens_map.json');
  if (config.added_tokens_decoder === undefined && existsSync(mapPath)) Object.assign(config, readJsonFile(mapPath));
  const templatePath = join(modelDir, 'chat_template.jinja');
  if (existsSync(templatePath)) config.chat_template = readFileSync(templatePath, 'utf8');
  return LoraTokenizer.fromObjects(readJsonFile(jsonPath), config, jsonPath, options);
}
