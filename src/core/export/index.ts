// export/ — bundles for other engines: a run as a TRL + Accelerate folder (bundle.ts) with its
// train.py (trainPy.ts), tokenized data (trlData.ts), config mapping and batch split (trlPlan.ts)
// and launch files (launchFiles.ts); reading what the bundle's train.py wrote back (trlOutput.ts,
// for lora-lab import). Everything outside this folder imports from here.
export { BUNDLE_MANIFEST, checkBundleTarget, ExportError, writeTrlBundle, type TrlBundleInput, type TrlBundleResult } from './bundle';
export { ACCELERATE_CONFIGS, TRL_REQUIREMENTS } from './launchFiles';
export { IGNORE_INDEX, trlRow, type TrlRow } from './trlData';
export { batchSplits, microBatchPlan, trlPlan, validWorldSizes, type BatchSplit, type TrlPlan } from './trlPlan';
export { ImportError, readTrlMetrics, readTrlOutput, TRL_OUTPUT_RECORD, type TrlOutput } from './trlOutput';
