// Test setup: unit tests run TensorFlow.js on the backend users get without native packages,
// wasm with LoRA Lab's faster slicing kernels installed as initBackend does.
// LORA_LAB_TEST_BACKEND=cpu switches to the pure-JS reference backend; =tensorflow loads
// @tensorflow/tfjs-node (set up with `npm run setup:native`) so the engine tests run on native
// TensorFlow too (.ci/run does both).
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { installFastWasmKernels } from '../src/core/backend/wasmKernels';

const backend = process.env.LORA_LAB_TEST_BACKEND ?? 'wasm';
if (backend === 'tensorflow') {
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  process.env.TF_ENABLE_ONEDNN_OPTS ??= '1'; // as initBackend sets it: the tests check what users run
  const req = createRequire(import.meta.url);
  try {
    req('@tensorflow/tfjs-node');
  } catch (e) {
    throw new Error(`LORA_LAB_TEST_BACKEND=tensorflow but @tensorflow/tfjs-node does not load (run npm run setup:native): ${(e as Error).message}`);
  }
  // LoRA Lab's fused kernels, as initBackend loads them (LORA_LAB_FUSED_OPS=0: the tfjs chains instead).
  const { loadFusedOps } = await import('../src/core/backend/fusedOps');
  const fused = loadFusedOps(path.dirname(req.resolve('@tensorflow/tfjs-node/lib/napi-v8/tfjs_binding.node')));
  if (!fused.loaded && process.env.LORA_LAB_FUSED_OPS !== '0') throw new Error(`LORA_LAB_TEST_BACKEND=tensorflow: the fused ops did not load (${fused.reason}); npm run setup:native builds them, LORA_LAB_FUSED_OPS=0 tests without`);
}
if (!(await tf.setBackend(backend))) throw new Error(`LORA_LAB_TEST_BACKEND=${backend}: tf.setBackend failed`);
await tf.ready();
if (backend === 'wasm') installFastWasmKernels();
