// The bundle's launch side: pinned requirements, Accelerate configs (one GPU, DDP, FSDP, DeepSpeed
// ZeRO-2), launch.sh (accelerate launch, sized from the environment), a Slurm script, and the
// README with the three commands. Fixed texts with the run's id and numbers filled in.
import type { TrlPlan } from './trlPlan';

/**
 * The Python stack train.py was tested with: the interop venv (scripts/requirements-ref.txt,
 * Python 3.11), where `npm run test:interop` runs the exported train.py and checks its initial
 * validation loss against LoRA Lab's.
 */
export const TRL_REQUIREMENTS: Readonly<Record<string, string>> = {
  torch: '2.15.0',
  transformers: '5.24.0',
  peft: '0.21.2',
  trl: '1.16.0',
  accelerate: '1.15.0',
  datasets: '5.2.0',
  safetensors: '0.8.0',
};

export function requirementsTxt(): string {
  const lines = ['# Tested with Python 3.11 (LoRA Lab\'s interop suite runs this train.py against these versions).'];
  for (const [pkg, v] of Object.entries(TRL_REQUIREMENTS)) lines.push(`${pkg}==${v}`);
  lines.push('# For accelerate/deepspeed_zero2.yaml also: pip install deepspeed');
  return `${lines.join('\n')}\n`;
}

const COMMON = `compute_environment: LOCAL_MACHINE
debug: false
machine_rank: 0
main_training_function: main
mixed_precision: 'no'
num_machines: 1
rdzv_backend: static
same_network: true
use_cpu: false
`;

/** accelerate/<name>.yaml; launch.sh overrides num_processes, num_machines, machine_rank and the main process address. */
export const ACCELERATE_CONFIGS: Readonly<Record<string, string>> = {
  single_gpu: `# One process on one GPU (or the CPU when there is none).\n${COMMON}distributed_type: 'NO'\nnum_processes: 1\n`,
  multi_gpu: `# Data parallel (DDP): one process per GPU, each holding the whole model.\n${COMMON}distributed_type: MULTI_GPU\nnum_processes: 8\n`,
  fsdp: `# Fully sharded data parallel (FSDP2): the base weights sharded across processes; the adapter saved whole.
${COMMON}distributed_type: FSDP
num_processes: 8
fsdp_config:
  fsdp_version: 2
  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP  # one unit per block named by the model's _no_split_modules (GPT2Block, LlamaDecoderLayer, ...)
  fsdp_cpu_ram_efficient_loading: true  # rank 0 reads the weights, the others start empty and receive them
  fsdp_offload_params: false
  fsdp_reshard_after_forward: true
  fsdp_state_dict_type: FULL_STATE_DICT  # Trainer.save_model writes the adapter only from a full state dict (gathered on rank 0's CPU)
`,
  deepspeed_zero2: `# DeepSpeed ZeRO stage 2: optimizer state and gradients sharded (pip install deepspeed).
${COMMON}distributed_type: DEEPSPEED
num_processes: 8
deepspeed_config:
  deepspeed_multinode_launcher: standard
  offload_optimizer_device: none
  offload_param_device: none
  zero3_init_flag: false
  zero_stage: 2
`,
};

export const LAUNCH_SH = `#!/usr/bin/env bash
# accelerate launch train.py, sized from the environment (defaults: this machine, all its GPUs, DDP).
#   CONFIG            accelerate/<CONFIG>.yaml: single_gpu, multi_gpu (default), fsdp, deepspeed_zero2
#   NUM_MACHINES      nodes (default 1)
#   GPUS_PER_MACHINE  processes per node (default: the GPUs torch sees, at least 1)
#   NUM_PROCESSES     processes in all (default GPUS_PER_MACHINE x NUM_MACHINES)
#   MACHINE_RANK      this node's rank (default 0)
#   MAIN_PROCESS_IP   rank 0's address (default 127.0.0.1), MAIN_PROCESS_PORT (default 29500)
#   ACCELERATE_ARGS   more flags for accelerate launch (e.g. --cpu)
# Arguments go to train.py (--output-dir DIR, --max-steps N).
set -euo pipefail
cd "$(dirname "$0")"
CONFIG="\${CONFIG:-multi_gpu}"
NUM_MACHINES="\${NUM_MACHINES:-1}"
GPUS_PER_MACHINE="\${GPUS_PER_MACHINE:-$(python -c 'import torch; print(max(1, torch.cuda.device_count()))')}"
NUM_PROCESSES="\${NUM_PROCESSES:-$((GPUS_PER_MACHINE * NUM_MACHINES))}"
MACHINE_RANK="\${MACHINE_RANK:-0}"
MAIN_PROCESS_IP="\${MAIN_PROCESS_IP:-127.0.0.1}"
MAIN_PROCESS_PORT="\${MAIN_PROCESS_PORT:-29500}"
# shellcheck disable=SC2086
exec accelerate launch --config_file "accelerate/\${CONFIG}.yaml" \\
  --num_processes "$NUM_PROCESSES" --num_machines "$NUM_MACHINES" --machine_rank "$MACHINE_RANK" \\
  --main_process_ip "$MAIN_PROCESS_IP" --main_process_port "$MAIN_PROCESS_PORT" \${ACCELERATE_ARGS:-} \\
  train.py "$@"
`;

export function slurmSbatch(runId: string): string {
  return `#!/bin/bash
# Slurm: one task per node, each running launch.sh with its node rank. Submit from this folder:
#   sbatch slurm.sbatch [train.py arguments]
# Set --nodes and --gpus-per-node below (and GPUS_PER_MACHINE to match); CONFIG=fsdp etc. as in launch.sh.
#SBATCH --job-name=lora-lab-${runId}
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=16
#SBATCH --time=04:00:00
#SBATCH --output=slurm-%j.out
set -euo pipefail
cd "\${SLURM_SUBMIT_DIR:-.}"
export NUM_MACHINES="$SLURM_NNODES"
export GPUS_PER_MACHINE="\${GPUS_PER_MACHINE:-8}"
MAIN_PROCESS_IP="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
export MAIN_PROCESS_IP
srun --ntasks-per-node=1 bash -c 'MACHINE_RANK="$SLURM_NODEID" exec bash launch.sh "$@"' _ "$@"
`;
}

export interface ReadmeInputs {
  runId: string;
  baseModel: string;
  plan: TrlPlan;
  train: { examples: number; sha256: string };
  valid: { examples: number; sha256: string };
  notes: string[];
  /** The source run's facts as the model cards give them (hf/modelCard.ts factsMarkdown), under "The source run". */
  facts?: string;
}

export function bundleReadme(r: ReadmeInputs): string {
  const { plan } = r;
  const table = plan.mapping.map((m) => `| ${m.field} | ${m.to} | ${JSON.stringify(m.value)} | ${m.note ?? ''} |`);
  return `# LoRA Lab run ${r.runId} for TRL + Accelerate

Written by \`lora-lab export --to trl\`. Base model: \`${r.baseModel}\` (override with \`--model\` or
\`LORA_LAB_BASE_MODEL\`).

## Run it

\`\`\`sh
pip install -r requirements.txt
python train.py --check-only        # base model's validation loss: equals the run's eval.json base loss
bash launch.sh                      # all GPUs of this machine (DDP); CONFIG=fsdp or deepspeed_zero2 to shard
\`\`\`

Two nodes of 8 GPUs: on each node \`NUM_MACHINES=2 GPUS_PER_MACHINE=8 MACHINE_RANK=<0|1> MAIN_PROCESS_IP=<node 0> bash launch.sh\`,
or \`sbatch slurm.sbatch\` under Slurm. One process without Accelerate: \`python train.py\`.
The adapter lands in \`output/adapter/\` (PEFT format), per-step metrics in \`output/metrics.jsonl\`
(LoRA Lab's row format).

## What is here

- \`train.py\`: TRL \`SFTTrainer\` + \`SFTConfig\` + PEFT \`LoraConfig\` with the run's settings (table below).
- \`data/train.jsonl\` (${r.train.examples} examples) and \`data/valid.jsonl\` (${r.valid.examples}, the rows the run
  validated on): LoRA Lab's tokens as \`input_ids\`, \`labels\` = -100 where LoRA Lab puts no loss; \`line\` is the
  row's line in the source file. \`data/SHA256SUMS\` (\`sha256sum -c\`; train.py checks it).
- \`run.json\`: the source run's record (provenance). \`requirements.txt\`: the tested versions.
- \`accelerate/\`: single_gpu, multi_gpu (DDP), fsdp, deepspeed_zero2. \`launch.sh\`, \`slurm.sbatch\`.

## What carries over

Exactly: the tokens and loss mask of every example, the validation rows, LoRA r / alpha / dropout / targets /
rsLoRA / init / layers, AdamW's rate, betas, epsilon and weight decay, clipping, the schedule (LoRA Lab's own
formula, warm-up included), ${plan.totalSteps} steps, and the effective batch of ${plan.effectiveBatch} examples per step
(micro-batch x accumulation x world size, looked up by WORLD_SIZE in train.py's BATCH_SPLITS; a world size that
does not divide it is refused): ${plan.batchSplits.map((s) => `${s.world} → ${s.micro} x ${s.accumulation}`).join(', ')}.
Not bit for bit: the random streams (adapter init, data order, dropout) are PyTorch's, seeded with the run's seed.

| LoRA Lab | TRL / PEFT | value | note |
| --- | --- | --- | --- |
${table.join('\n')}
${r.notes.length ? `\n## Notes\n\n${r.notes.map((n) => `- ${n}`).join('\n')}\n` : ''}${r.facts ? `\n# The source run\n\n${r.facts}` : ''}`;
}
