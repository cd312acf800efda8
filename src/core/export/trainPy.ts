// The bundle's train.py: TRL SFTTrainer + SFTConfig + PEFT LoraConfig over the exported,
// pre-tokenized data (data/*.jsonl: LoRA Lab's own ids and loss mask), with LoRA Lab's
// learning-rate formula, the effective batch split looked up by WORLD_SIZE in the plan's table
// (trlPlan.ts batchSplits: the split rule lives there only), metrics.jsonl rows in LoRA
// Lab's format, and --check-only (the base model's validation loss, to compare with eval.json).
// The Python is a fixed text; only the @@NAME@@ slots are filled from the plan.
import { pyDict, pyLiteral, type TrlPlan } from './trlPlan';

export interface TrainPyInputs {
  plan: TrlPlan;
  runId: string;
  /** The base model: a Hub id (--base-id) or the local folder the run used. */
  baseModel: string;
  padId: number;
  /** Loss-bearing tokens in the validation file (the eval rows' valTokens). */
  validLossTokens: number;
}

const TEMPLATE = String.raw`#!/usr/bin/env python3
"""Train LoRA Lab run @@RUN_ID@@ with TRL's SFTTrainer and PEFT LoRA: one GPU, many, or many nodes.

    python train.py [--output-dir DIR] [--max-steps N]        # one process
    bash launch.sh                                             # accelerate launch (see README.md)
    python train.py --check-only                               # base model's validation loss, then exit

Written by "lora-lab export --to trl". The data in data/ is LoRA Lab's own tokenization (input_ids,
and labels = -100 where LoRA Lab puts no loss), so both engines train on the same tokens; the
validation file holds the same rows LoRA Lab validated on. The effective batch of the local run
(micro-batch x gradient accumulation x world size) is kept for any WORLD_SIZE that divides it:
BATCH_SPLITS below lists them (written by the export; train.py computes no split of its own).
"""
import argparse
import datetime
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUN_ID = @@RUN_ID_LIT@@
BASE_MODEL = os.environ.get("LORA_LAB_BASE_MODEL", @@BASE_MODEL@@)
PAD_ID = @@PAD_ID@@
EFFECTIVE_BATCH = @@EFFECTIVE_BATCH@@  # examples per optimizer step, all processes together
# WORLD_SIZE: (per-device micro-batch, gradient accumulation), micro x accumulation x world = EFFECTIVE_BATCH,
# micro at most the local run's @@LOCAL_MICRO@@; every world size that divides EFFECTIVE_BATCH is here.
BATCH_SPLITS = @@BATCH_SPLITS@@
TOTAL_STEPS = @@TOTAL_STEPS@@
WARMUP_STEPS = @@WARMUP_STEPS@@  # None: WARMUP_RATIO of the steps, rounded down (LoRA Lab's rule)
WARMUP_RATIO = @@WARMUP_RATIO@@
SCHEDULE = @@SCHEDULE@@
EARLY_STOPPING_PATIENCE = @@PATIENCE@@
LORAPLUS_LR_RATIO = @@LORAPLUS_LR_RATIO@@  # LoRA+: B at lr x this (PEFT's create_loraplus_optimizer); None: plain AdamW
BASE_DROPOUT = @@BASE_DROPOUT@@  # the model's own dropout in training (model.train()); False: its probabilities set to 0
VALID_LOSS_TOKENS = @@VALID_LOSS_TOKENS@@

# PEFT LoraConfig: the run's adapter configuration by PEFT's names.
LORA = @@LORA@@

# TRL SFTConfig: the run's training configuration by Trainer's names (batch split and steps below).
SFT = @@SFT@@


def batch_split(env):
    """(world size, micro-batch, accumulation) for the launcher's WORLD_SIZE; exits naming the sizes that fit."""
    text = env.get("WORLD_SIZE", "1")
    try:
        world = int(text)
    except ValueError:
        sys.exit(f"WORLD_SIZE={text!r} is not a whole number of processes; launch with one of {sorted(BATCH_SPLITS)}.")
    if world not in BATCH_SPLITS:
        sys.exit(
            f"WORLD_SIZE={world} does not divide the run's effective batch of {EFFECTIVE_BATCH} examples "
            f"(micro-batch x accumulation x world size); launch with one of {sorted(BATCH_SPLITS)} processes."
        )
    return (world, *BATCH_SPLITS[world])


def lab_lr_factor(step, warmup, total, kind):
    """LoRA Lab's schedule (src/core/train/schedule.ts) as a multiple of the peak rate, 0-based step."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    progress = min(1.0, max(0.0, (step - warmup) / max(1, total - warmup)))
    return 1 - progress if kind == "linear" else 0.5 * (1 + math.cos(math.pi * progress))


def loraplus_groups(model, optimizer):
    """The optimizer's non-empty parameter groups as {lr, weight_decay, tensors, kinds}: which LoRA matrices learn at which rate."""
    names = {id(p): n for n, p in model.named_parameters()}
    kind = lambda n: next((k for k in ("lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B", "lora_magnitude_vector") if f".{k}." in f".{n}."), n.rsplit(".", 1)[-1])
    return [
        {"lr": g["lr"], "weight_decay": g["weight_decay"], "tensors": len(g["params"]), "kinds": sorted({kind(names[id(p)]) for p in g["params"]})}
        for g in optimizer.param_groups
        if g["params"]
    ]


def verify_data():
    """Stop when a data file differs from the SHA-256 the export wrote."""
    for line in (HERE / "data" / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        path = HERE / "data" / name.lstrip("*")
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            sys.exit(f"{path} changed since the export (SHA-256 differs from data/SHA256SUMS); export the run again.")


def read_rows(name):
    path = HERE / "data" / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def mean_loss(model, rows, device, batch=8):
    """Mean next-token loss per loss token (labels != -100), summed in float64: LoRA Lab's eval loss."""
    import torch
    import torch.nn.functional as F

    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(rows), batch):
            chunk = rows[i : i + batch]
            width = max(len(r["input_ids"]) for r in chunk)
            ids = torch.full((len(chunk), width), PAD_ID, dtype=torch.long)
            labels = torch.full((len(chunk), width), -100, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for b, r in enumerate(chunk):
                n = len(r["input_ids"])
                ids[b, :n] = torch.tensor(r["input_ids"])
                labels[b, :n] = torch.tensor(r["labels"])
                mask[b, :n] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()  # (B, T, V)
            target = labels[:, 1:].to(device)
            nll = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100, reduction="sum")
            total += float(nll.double().item())
            count += int((target != -100).sum().item())
    return (total / count if count else float("nan")), count


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output-dir", default=str(HERE / "output"), help="checkpoints, adapter/ and metrics.jsonl (default: ./output)")
    ap.add_argument("--max-steps", type=int, help=f"optimizer steps (default: the run's {TOTAL_STEPS})")
    ap.add_argument("--model", default=BASE_MODEL, help="base model folder or Hub id (default: %(default)s; env LORA_LAB_BASE_MODEL)")
    ap.add_argument("--check-only", action="store_true", help="print the base model's validation loss as one JSON line, then exit")
    args = ap.parse_args()
    verify_data()
    split = None if args.check_only else batch_split(os.environ)  # before torch: a wrong world size fails at once

    import torch
    from transformers import AutoModelForCausalLM

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    valid = read_rows("valid.jsonl")
    if args.check_only:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager").to(device)
        loss, _ = mean_loss(model, valid, device)
        print(json.dumps({"initial_eval_loss": loss, "examples": len(valid)}), flush=True)
        return 0
    return train(args, valid, split)


def fsdp_lm_head_apart(model, state):
    """FSDP2 through accelerate 1.15 shards the final norm, the input embedding and the LM head as one
    group, and TRL's SFTTrainer computes the loss with a fused LM head that reads lm_head.weight without
    calling lm_head: that group then never runs its forward, and the second step fails ("got mixed
    torch.Tensor and DTensor", seen on an H200 with torch 2.11, for GPT-2's tied embedding). So the LM
    head gets its own group: untied from the input embedding as a frozen copy (the two stay equal: LoRA
    trains neither; costs vocab x hidden floats per process), and kept out of the final norm's group."""
    import torch

    out_emb, in_emb = model.get_output_embeddings(), model.get_input_embeddings()
    if out_emb is None or in_emb is None:
        return
    if out_emb.weight is in_emb.weight:
        out_emb.weight = torch.nn.Parameter(in_emb.weight.detach().clone(), requires_grad=False)
        model.config.get_text_config().tie_word_embeddings = False
    from accelerate.utils import fsdp_utils
    if hasattr(fsdp_utils, "_find_final_norm"):
        fsdp_utils._find_final_norm = lambda _model: None  # the final norm joins the root group instead
    if state.is_main_process:
        print("FSDP: the LM head sharded apart from the embedding and the final norm (TRL's fused LM head)", flush=True)


def train(args, valid, split):
    import torch
    from accelerate import PartialState
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, EarlyStoppingCallback, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    world, micro, accumulation = split
    total = args.max_steps or TOTAL_STEPS
    warmup = WARMUP_STEPS if WARMUP_STEPS is not None else math.floor(WARMUP_RATIO * total)
    out = Path(args.output_dir)
    has_valid = bool(valid)
    patience = EARLY_STOPPING_PATIENCE if has_valid else 0
    kwargs = dict(SFT)
    kwargs.update(
        output_dir=str(out),
        per_device_train_batch_size=micro,
        per_device_eval_batch_size=micro,
        gradient_accumulation_steps=accumulation,
        max_steps=total,
        warmup_steps=warmup,
        report_to="none",
        # Without a GPU, processes train on the CPU over gloo (accelerate launch / torchrun with WORLD_SIZE > 1).
        use_cpu=not torch.cuda.is_available(),
        dataset_kwargs={"skip_prepare_dataset": True},  # the rows are LoRA Lab's tokens and labels already
        eval_strategy="steps" if has_valid else "no",
        load_best_model_at_end=patience > 0,
        metric_for_best_model="eval_loss" if patience > 0 else None,
        greater_is_better=False if patience > 0 else None,
    )
    config = SFTConfig(**kwargs)
    device = config.device  # sets up the distributed state (DDP, FSDP, DeepSpeed, or one process)
    state = PartialState()
    out.mkdir(parents=True, exist_ok=True)
    if state.is_main_process:
        print(f"effective batch {EFFECTIVE_BATCH} = micro-batch {micro} x accumulation {accumulation} x world {state.num_processes}; {total} steps, warm-up {warmup}", flush=True)
    if state.num_processes != world:
        sys.exit(f"WORLD_SIZE={world} but {state.num_processes} processes joined; launch with accelerate launch or torchrun.")

    off = {}  # LoRA Lab's training.baseDropout false: the config's dropout probabilities, those it has, set to 0
    if not BASE_DROPOUT:
        from transformers import AutoConfig
        cfg = AutoConfig.from_pretrained(args.model)
        off = {k: 0.0 for k in ("attn_pdrop", "embd_pdrop", "resid_pdrop", "attention_dropout") if hasattr(cfg, k)}
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, **off)
    if has_valid and state.is_main_process:
        loss, _ = mean_loss(model.to(device), valid, device)
        print(json.dumps({"initial_eval_loss": loss, "examples": len(valid)}), flush=True)
    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
        fsdp_lm_head_apart(model, state)
    state.wait_for_everyone()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    columns = ["input_ids", "labels"]
    train_rows = read_rows("train.jsonl")
    train_ds = Dataset.from_list([{k: r[k] for k in columns} for r in train_rows])
    eval_ds = Dataset.from_list([{k: r[k] for k in columns} for r in valid]) if has_valid else None
    peak = config.learning_rate

    class LabTrainer(SFTTrainer):
        def create_scheduler(self, num_training_steps, optimizer=None):
            if self.lr_scheduler is None:
                opt = optimizer if optimizer is not None else self.optimizer
                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lab_lr_factor(s, warmup, total, SCHEDULE))
                self._created_lr_scheduler = True
            return self.lr_scheduler

        def create_optimizer(self, model=None):
            if self.optimizer is None and LORAPLUS_LR_RATIO is not None:
                # LoRA+ as PEFT builds it, over the optimizer class and arguments the Trainer would use
                # (optim="adamw_torch": torch.optim.AdamW, lr, betas, eps); weight decay on A and B as in LoRA Lab.
                from peft.optimizers import create_loraplus_optimizer

                opt_model = self.model if model is None else model
                optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
                self.optimizer = create_loraplus_optimizer(
                    opt_model, optimizer_cls, loraplus_lr_ratio=LORAPLUS_LR_RATIO, loraplus_weight_decay=self.args.weight_decay, **optimizer_kwargs
                )
                if self.is_world_process_zero():
                    print(json.dumps({"loraplus": {"ratio": LORAPLUS_LR_RATIO, "groups": loraplus_groups(opt_model, self.optimizer)}}), flush=True)
            return super().create_optimizer(model)

    class LabMetrics(TrainerCallback):
        """metrics.jsonl rows as LoRA Lab writes them (src/protocol/metrics.ts)."""

        def __init__(self):
            self.t0 = time.time()
            self.last = (self.t0, 0, 0)
            self.best = math.inf

        def on_log(self, args_, state_, control, logs=None, **kw):
            if not state_.is_world_process_zero or not logs:
                return
            now = time.time()
            step = state_.global_step
            row = None
            if "loss" in logs:
                tokens = int(logs.get("num_tokens", 0))
                t_last, s_last, tok_last = self.last
                steps = max(1, step - s_last)
                row = {
                    "type": "step", "step": step, "totalSteps": total, "epoch": float(logs.get("epoch", state_.epoch or 0)),
                    "loss": float(logs["loss"]), "lr": peak * lab_lr_factor(step - 1, warmup, total, SCHEDULE),
                    "gradNorm": float(logs.get("grad_norm", float("nan"))), "tokens": tokens,
                    "tokensPerSec": (tokens - tok_last) / max(1e-9, now - t_last), "stepMs": 1000 * (now - t_last) / steps,
                    "elapsedMs": 1000 * (now - self.t0),
                }
                self.last = (now, step, tokens)
            elif "eval_loss" in logs:
                loss = float(logs["eval_loss"])
                row = {"type": "eval", "step": step, "valLoss": loss, "valPerplexity": math.exp(min(loss, 700)), "valTokens": VALID_LOSS_TOKENS, "best": loss < self.best}
                self.best = min(self.best, loss)
            if row is not None:
                row["time"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                with open(out / "metrics.jsonl", "a") as f:
                    f.write(json.dumps(row) + "\n")

    callbacks = [LabMetrics()]
    if patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=patience))
    trainer = LabTrainer(
        model=model, args=config, train_dataset=train_ds, eval_dataset=eval_ds, processing_class=tokenizer,
        peft_config=LoraConfig(task_type="CAUSAL_LM", **LORA), callbacks=callbacks,
    )
    init = LORA.get("init_lora_weights")
    decomposed = isinstance(init, str) and (init.startswith("pissa") or init == "olora")
    if decomposed and state.is_main_process:
        # PiSSA/OLoRA train on a residual base; PEFT's conversion needs the initial adapter, saved as plain LoRA.
        peft_model = trainer.model
        peft_model.peft_config["default"].init_lora_weights = True
        peft_model.save_pretrained(str(out / "adapter-init"))
        peft_model.peft_config["default"].init_lora_weights = init
    trainer.train()
    if decomposed:
        # As LoRA Lab's adapter/: PEFT's converted form (rank 2r) for the original base (one process or DDP; not FSDP/ZeRO-3).
        if state.is_main_process:
            trainer.accelerator.unwrap_model(trainer.model).save_pretrained(str(out / "adapter"), path_initial_model_for_weight_conversion=str(out / "adapter-init"))
    else:
        trainer.save_model(str(out / "adapter"))  # PEFT format: adapter_config.json + adapter_model.safetensors
    if state.is_main_process:
        # What this run did, for "lora-lab import" (src/core/export/trlOutput.ts reads it).
        from importlib.metadata import version
        record = {
            "bundle": str(HERE), "runId": RUN_ID, "model": args.model, "worldSize": state.num_processes,
            "perDeviceBatch": micro, "gradientAccumulation": accumulation, "effectiveBatch": EFFECTIVE_BATCH,
            "maxSteps": total, "warmupSteps": warmup, "globalStep": trainer.state.global_step,
            "versions": {p: version(p) for p in ("torch", "transformers", "trl", "peft", "accelerate")},
        }
        (out / "lora-lab-output.json").write_text(json.dumps(record, indent=2) + "\n")
        print(json.dumps({"adapter": str(out / "adapter"), "metrics": str(out / "metrics.jsonl")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
`;

/** The plan's batch table as train.py's BATCH_SPLITS: `{world: (micro, accumulation), ...}`, one world per line. */
export function pyBatchSplits(splits: TrlPlan['batchSplits']): string {
  if (splits.length === 0) throw new Error('train.py template: the batch table is empty (effective batch < 1)');
  return `{\n${splits.map((s) => `    ${pyLiteral(s.world)}: (${pyLiteral(s.micro)}, ${pyLiteral(s.accumulation)}),`).join('\n')}\n}`;
}

/** train.py for the plan: the fixed script with the run's values filled in. */
export function renderTrainPy(i: TrainPyInputs): string {
  const { plan } = i;
  const slots: Record<string, string> = {
    RUN_ID: i.runId,
    RUN_ID_LIT: pyLiteral(i.runId),
    BASE_MODEL: pyLiteral(i.baseModel),
    PAD_ID: pyLiteral(i.padId),
    EFFECTIVE_BATCH: pyLiteral(plan.effectiveBatch),
    LOCAL_MICRO: pyLiteral(plan.localMicroBatch),
    BATCH_SPLITS: pyBatchSplits(plan.batchSplits),
    TOTAL_STEPS: pyLiteral(plan.totalSteps),
    WARMUP_STEPS: pyLiteral(plan.warmupSteps ?? null),
    WARMUP_RATIO: pyLiteral(plan.warmupRatio),
    SCHEDULE: pyLiteral(plan.schedule),
    PATIENCE: pyLiteral(plan.earlyStoppingPatience),
    LORAPLUS_LR_RATIO: pyLiteral(plan.loraplusLrRatio ?? null),
    BASE_DROPOUT: pyLiteral(plan.baseDropout),
    VALID_LOSS_TOKENS: pyLiteral(i.validLossTokens),
    LORA: pyDict(plan.lora),
    SFT: pyDict(plan.sft),
  };
  return TEMPLATE.replace(/@@([A-Z_]+)@@/g, (m, k: string) => {
    const v = slots[k];
    if (v === undefined) throw new Error(`train.py template: no value for ${m}`);
    return v;
  });
}
