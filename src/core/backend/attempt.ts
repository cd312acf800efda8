// What loading one backend yields, and how a failed attempt is told: shared by the backend
// choice (index.ts) and the native loader (loadNative.ts).
import type { NativeSourceInfo } from './nativeSource';
import type { BackendName } from './report';

export const BACKEND_PACKAGES: Record<BackendName, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

export interface Loaded {
  device: 'gpu' | 'cpu';
  threads: number;
  simd?: boolean;
  memoryLimitBytes?: number;
  machineMemoryBytes?: number;
  native?: NativeSourceInfo;
  reason: string;
  versions: Record<string, string>;
}

/** A backend that could not be used: `reason` goes into the report, `fix` into a forced choice's error. */
export class AttemptFailed extends Error {
  constructor(readonly reason: string, readonly fix: string) {
    super(reason);
  }
}


export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function firstLine(s: string): string {
  return s.split('\n')[0];
}
