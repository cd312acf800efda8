// A run's saved checkpoints as models for the evaluation cases (issue 16): the folders of
// <run>/checkpoints that hold an adapter, oldest first, each labelled "checkpoint <name> (step N)".
// One place for that list and its labels: runCaseModels (what a test job runs) and the Test
// Explorer (the checkpoint items it shows under each case, src/host/evalTestTree.ts) must name
// them alike, or results land on items the tree does not show. Only fs: the extension host uses it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunDir } from './runDir';

/** peft/adapterFolder's ADAPTER_CONFIG (that module reads tensors; the host must not bundle it). */
export const CHECKPOINT_ADAPTER_CONFIG = 'adapter_config.json';
/** train/checkpoint's TRAINER_STATE, for the same reason. */
export const CHECKPOINT_TRAINER_STATE = 'trainer_state.json';

export interface CaseCheckpoint {
  name: string;
  dir: string;
  /** From its trainer_state.json, when it records one. */
  step?: number;
  /** The report's column and the Test Explorer item: "checkpoint last (step 80)". */
  label: string;
}

/** A checkpoint's step from its trainer_state.json, when it records one. */
function checkpointStep(dir: string): number | undefined {
  try {
    const s = JSON.parse(fs.readFileSync(path.join(dir, CHECKPOINT_TRAINER_STATE), 'utf8')) as { step?: unknown };
    return typeof s.step === 'number' && Number.isInteger(s.step) ? s.step : undefined;
  } catch {
    return undefined;
  }
}

/** The run's checkpoints that hold an adapter, oldest first (RunDir.listCheckpoints' order). */
export function caseCheckpoints(run: RunDir): CaseCheckpoint[] {
  return run.listCheckpoints().filter((c) => fs.existsSync(path.join(c.dir, CHECKPOINT_ADAPTER_CONFIG))).map((c) => {
    const step = checkpointStep(c.dir);
    return { name: c.name, dir: c.dir, label: `checkpoint ${c.name}${step !== undefined ? ` (step ${step})` : ''}`, ...(step !== undefined ? { step } : {}) };
  });
}
