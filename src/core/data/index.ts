// The data pipeline's public API: dataset files → checked, tokenized examples with loss weights →
// seeded epoch orders and padded batches. Engine code imports from here, not from the parts.
export type { Batch, BadRowPolicy, CheckOptions, ColumnNames, DataOptions, DatasetFormat, DatasetReport, Example, RowProblem, ValidSource } from './types';
export { CancelledError, yieldToEventLoop } from './cancel';
export { DatasetError, LISTED_PROBLEMS, MAX_KEPT_PROBLEMS, formatProblem } from './errors';
export { DEFAULT_MAX_ROW_BYTES } from './limits';
export { EXCLUDE_SUFFIX, exclusionFileOf, readExclusions, updateExclusions, type ExclusionList } from './exclusions';
export { checkDatasetFile, loadExamples, type CheckResult } from './load';
export { DEFAULT_VALID_FRACTION, describeReport, prepareData, splitIndices, type PreparedData } from './prepare';
export { epochOrder, lengthGroupedOrder, lengthGroupSize, makeBatch, makeBatches, padIdFor } from './batches';
