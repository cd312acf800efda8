// Versions recorded in every run.json, so a result can be traced to the code that made it.
import * as tf from '@tensorflow/tfjs';
import { loraLabVersion } from '../util/version';

let cached: Record<string, string> | undefined;

export function versions(): Record<string, string> {
  cached ??= { 'lora-lab': loraLabVersion(), tfjs: tf.version.tfjs, node: process.versions.node };
  return cached;
}
