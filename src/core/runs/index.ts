// runs/ — the run folder on disk ("nothing is lost"): one folder per experiment under the runs
// root (.lora-lab/runs/<id>/) holding run.json (record.ts), metrics.jsonl (metrics.ts),
// train.log, checkpoints/ and adapter/, and run.lock while a process writes to it (lock.ts); ids (ids.ts), listing and interrupted runs (list.ts),
// the versions stamped into run.json (versions.ts), metrics read for display in bounded memory (metricsView.ts,
// stepBuckets.ts, stepScan.ts). Every write is crash-safe (util/durableFiles).
// Everything outside this folder imports from here.
export * from './runDir';
export { readMetricRows, type MetricRowsRead } from './metrics';
export { readMetricsView, readMetricsViewAsync, type MetricsView, type MetricsViewOptions } from './metricsView';
