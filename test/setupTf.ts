// Test setup: unit tests run TensorFlow.js on the backend users get without native packages,
// wasm with LoRA Lab's faster slicing kernels installed as initBackend does
// (LORA_LAB_TEST_BACKEND=cpu switches to the pure-JS reference backend).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { installFastWasmKernels } from '../src/core/backend/wasmKernels';

const backend = process.env.LORA_LAB_TEST_BACKEND ?? 'wasm';
await tf.setBackend(backend);
await tf.ready();
if (backend === 'wasm') installFastWasmKernels();
