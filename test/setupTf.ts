// Test setup: unit tests run TensorFlow.js on the backend users get without native packages,
// wasm (LORA_LAB_TEST_BACKEND=cpu switches to the pure-JS reference backend).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

const backend = process.env.LORA_LAB_TEST_BACKEND ?? 'wasm';
await tf.setBackend(backend);
await tf.ready();
