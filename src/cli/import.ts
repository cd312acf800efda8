// `lora-lab import <output dir>`: what a TRL bundle's train.py trained on a cluster (its adapter/ and
// metrics.jsonl) brought back as a completed run under .lora-lab/runs, source "trl", beside the
// local runs. The work is src/core/importRun.ts; this file maps flags and prints the result.
import * as path from 'node:path';
import { ImportError } from '../core/export';
import { importTrlRun } from '../core/importRun';
import { runsRoot } from '../core/runs';
import { CliUsageError, type CliCommand } from './common';

export const importCommand: CliCommand = {
  summary: "Bring a TRL bundle's training output (adapter/ and metrics.jsonl from train.py) back as a run beside the local ones",
  synopsis: '<output dir> [--name <name>] [--force] [--bundle <dir>] [--model <dir>] [--workspace <dir>] [--runs-dir <dir>] [--json]',
  positional: 'output',
  options: {
    output: { type: 'string', valueName: 'dir', description: "The folder train.py wrote (--output-dir, default <bundle>/output); also the first argument" },
    name: { type: 'string', valueName: 'name', description: 'Name of the new run', default: '"<source run id> (TRL)"' },
    force: { type: 'boolean', description: 'Replace an earlier import with the same name (a run LoRA Lab trained is never replaced)' },
    bundle: { type: 'string', valueName: 'dir', description: "The bundle folder (default: the one train.py recorded, else the output folder's parent)" },
    model: { type: 'string', valueName: 'dir', description: "The base model folder on this machine (default: the source run's)" },
    workspace: { type: 'string', valueName: 'dir', description: 'Folder whose .lora-lab/runs receives the run', default: '.' },
    'runs-dir': { type: 'string', valueName: 'dir', description: 'Runs folder, relative to the workspace', default: '.lora-lab/runs' },
    json: { type: 'boolean', description: 'Print one JSON object (the run folder, its record, the next command)' },
  },
  async run(values) {
    const output = typeof values.output === 'string' ? values.output : undefined;
    if (!output) throw new CliUsageError('give the output folder of the bundle\'s train.py, e.g. lora-lab import bundle/output');
    const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
    const root = runsRoot(path.resolve(str('workspace') ?? '.'), str('runs-dir'));
    let result;
    try {
      result = importTrlRun({ output, runsRoot: root, name: str('name'), force: values.force === true, bundle: str('bundle'), model: str('model') });
    } catch (e) {
      if (e instanceof ImportError) throw new CliUsageError(e.message);
      throw e;
    }
    const { record, output: out } = result;
    const evalCommand = `lora-lab eval --run ${result.run.dir} --out ${path.join(result.run.dir, 'eval.json')}`;
    const steps = out.rows.filter((r) => r.type === 'step').length;
    const evals = out.rows.filter((r) => r.type === 'eval').length;
    if (values.json) {
      console.log(JSON.stringify({ runDir: result.run.dir, record, metricsRows: out.rows.length, adapterFiles: result.adapterFiles, replaced: result.replaced, evalCommand }));
      return 0;
    }
    const c = out.cluster;
    const lines = [
      `from     ${out.dir} (bundle ${out.bundleDir}, source run ${record.imported?.sourceRunId})`,
      `cluster  ${c.worldSize ?? '?'} process(es) x per-device batch ${c.perDeviceBatch ?? '?'} x accumulation ${c.gradientAccumulation ?? '?'}; ${c.globalStep ?? '?'} of ${c.maxSteps ?? '?'} steps`,
      `metrics  ${steps} step and ${evals} evaluation rows`,
      `adapter  ${result.adapterFiles.join(', ')} (checked against ${record.model.path})`,
      ...(result.replaced ? [`replaced ${result.replaced}`] : []),
      `run      ${result.run.dir} ("${record.name}", completed, source trl)`,
      `next     no eval.json yet: evaluate it like any run with`,
      `           ${evalCommand}`,
    ];
    console.log(lines.join('\n'));
    return 0;
  },
};
