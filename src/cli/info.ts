// `lora-lab info`: what a model folder holds (architecture, sizes, dtypes, tokenizer) and which
// TensorFlow.js backend this machine gives, with the reason each other one was not used.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend, formatBackendReport } from '../core/backend';
import { readConfig } from '../core/hf/config';
import { baseParameterCount, defaultTargets } from '../core/lora/modules';
import { loadTokenizer } from '../core/hf/tokenizer';
import { WeightStore } from '../core/hf/weights';
import { BACKEND_CHOICES, backendFlag, type CliCommand, formatBytes, formatInt, requireString } from './common';


export const infoCommand: CliCommand = {
  summary: 'Describe a model folder (architecture, sizes, dtypes, tokenizer) and the TensorFlow.js backend report',
  synopsis: '--model <dir> [--backend auto|tensorflow-gpu|tensorflow|wasm|cpu] [--json]',
  options: {
    model: { type: 'string', valueName: 'dir', description: 'Hugging Face model folder (config.json + safetensors)' },
    backend: { type: 'string', valueName: 'name', description: `Backend to load: ${BACKEND_CHOICES.join(', ')}`, default: 'auto' },
    json: { type: 'boolean', description: 'Print one JSON object' },
  },
  async run(values) {
    const dir = requireString(values, 'model');
    const choice = backendFlag(values);
    const { spec } = readConfig(dir);
    const store = WeightStore.open(dir);
    const files = store.files.map((f) => ({ file: path.basename(f), bytes: fs.statSync(f).size }));
    const dtypes = store.dtypes();
    const fileParams = store.totalParameters();
    store.close();
    const tok = loadTokenizer(dir);
    const base = baseParameterCount(spec);
    const backend = await initBackend(choice);
    const info = {
      model: path.resolve(dir),
      spec,
      parameters: base,
      checkpointElements: fileParams,
      float32Bytes: base * 4,
      files,
      dtypes,
      defaultLoraTargets: defaultTargets(spec),
      tokenizer: tok
        ? { vocabSize: tok.vocabSize, special: tok.special, chatTemplate: tok.chatTemplate !== undefined, modelMaxLength: tok.modelMaxLength ?? null }
        : null,
      backend,
    };
    if (values.json) {
      console.log(JSON.stringify(info));
      return 0;
    }
    const s = spec;
    const kv = s.numKvHeads !== s.numHeads ? ` (${s.numKvHeads} KV heads, grouped-query)` : '';
    const out = [
      `Model      ${info.model}`,
      `Arch       ${s.architecture} (${s.family})`,
      `Shape      ${s.numLayers} layers × ${s.hiddenSize} hidden, ${s.numHeads} heads${kv} × ${s.headDim}, MLP ${s.intermediateSize}, vocab ${formatInt(s.vocabSize)}, context ${formatInt(s.maxPositions)}`,
      `Details    ${s.family === 'gpt2' ? `LayerNorm eps ${s.normEps}, ${s.activation}` : `RMSNorm eps ${s.normEps}, SwiGLU, rope θ=${s.ropeTheta}${s.ropeScaling.type !== 'none' ? ` (${s.ropeScaling.type} scaling)` : ''}${s.qkvBias ? ', q/k/v bias' : ''}`}, ${s.tieWordEmbeddings ? 'tied' : 'separate'} LM head`,
      `Parameters ${formatInt(base)} (${formatBytes(base * 4)} as float32 in memory)`,
      `Files      ${files.map((f) => `${f.file} ${formatBytes(f.bytes)}`).join(', ')}`,
      `Dtypes     ${Object.entries(dtypes).map(([d, n]) => `${d} ×${n}`).join(', ')} (loaded as float32)`,
      `LoRA       default targets: ${info.defaultLoraTargets.join(', ')}`,
      tok
        ? `Tokenizer  vocab ${formatInt(tok.vocabSize)}; bos ${tok.special.bos?.text ?? '—'} eos ${tok.special.eos?.text ?? '—'} pad ${tok.special.pad?.text ?? '—'}; chat template: ${tok.chatTemplate ? 'yes' : 'no'}`
        : 'Tokenizer  none (tokenizer.json missing): only pre-tokenized input_ids datasets can be used',
      '',
      formatBackendReport(backend),
    ];
    console.log(out.join('\n'));
    return 0;
  },
};
