// Test setup: unit tests run TensorFlow.js on the backend users get without native packages,
// wasm with LoRA Lab's faster slicing kernels installed as initBackend does.
// LORA_LAB_TEST_BACKEND=cpu switches to the pure-JS reference backend; =tensorflow loads
// @tensorflow/tfjs-node (set up with `npm run setup:native`) so the engine tests run on native
// TensorFlow too (.ci/run does both).
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { installFastWasmKernels } from '../src/core/backend/wasmKernels';

const backend = process.env.LORA_LAB_TEST_BACKEND ?? 'wasm';
if (backend === 'tensorflow') {
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  process.env.TF_ENABLE_ONEDNN_OPTS ??= '1'; // as initBackend sets it: the tests check what users run
  try {
    createRequire(import.meta.url)('@tensorflow/tfjs-node');
  } catch (e) {
    throw new Error(`LORA_LAB_TEST_BACKEND=tensorflow but @tensorflow/tfjs-node does not load (run npm run setup:native): ${(e as Error).message}`);
  }
}
if (!(await tf.setBackend(backend))) throw new Error(`LORA_LAB_TEST_BACKEND=${backend}: tf.setBackend failed`);
await tf.ready();
if (backend === 'wasm') installFastWasmKernels();
