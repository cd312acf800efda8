// What loading one backend yields, and how a failed attempt is told: shared by the backend
// choice (index.ts) and the native loader (loadNative.ts).
import type { BackendName, BackendReport } from './report';

export const BACKEND_PACKAGES: Record<BackendName, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

/** What loading one backend yields: the report's per-backend part, and the attempt's reason. */
export type Loaded = Pick<BackendReport, 'device' | 'threads' | 'simd' | 'memoryLimitBytes' | 'machineMemoryBytes' | 'native' | 'versions'> & { reason: string };

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
