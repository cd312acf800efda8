"""Golden values for the base model's own dropout in training (issue 18 item 5): PyTorch forward and
backward of a PEFT model in model.train() with every dropout mask fixed beforehand, so LoRA Lab can
inject the same masks and must reproduce the loss and the LoRA gradients.

Two models, from the committed fixtures' weights with the dropout probabilities set here:
  gpt2-tiny with embd_pdrop, attn_pdrop and resid_pdrop > 0 (GPT2Model.drop, GPT2Attention's
  attn_dropout on the probabilities and resid_dropout after c_proj, GPT2MLP.dropout after c_proj);
  llama-tiny-gqa-bf16 (grouped-query attention 4:2) with attention_dropout > 0 (on the probabilities
  after repeat_kv).
Eager attention (the probabilities exist as a tensor). LoRA on every linear layer, lora_dropout 0,
A and B drawn non-zero. How the masks get in: each nn.Dropout module is replaced by one that
multiplies by its stored mask, and during each attention module's forward
torch.nn.functional.dropout (which transformers' eager_attention_forward calls on the
probabilities) is replaced by the same multiplication; every mask is checked to be used exactly
once. A mask is torch's own: bernoulli(1 - p) / (1 - p), drawn from a seeded generator.

Run: .venv-interop/bin/python scripts/gen_dropout_golden.py  → test/fixtures/dropout/{gpt2,llama}.json
"""
import contextlib
import json
import pathlib

import peft
import torch
import transformers
from peft import LoraConfig, get_peft_model
from transformers import GPT2LMHeadModel, LlamaForCausalLM

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "test" / "fixtures"
OUT = FIXTURES / "dropout"
B, T = 2, 8


def flat(t: torch.Tensor) -> list:
    """float32 values as the shortest decimals that round-trip (Math.fround recovers them)."""
    return [float(str(v)) for v in t.detach().to(torch.float32).reshape(-1).numpy()]


class FixedMask(torch.nn.Module):
    """Stands in for an nn.Dropout: x · mask, the mask fixed beforehand."""

    def __init__(self, site: str, p: float, masks: dict, used: dict):
        super().__init__()
        self.site, self.p, self.masks, self.used = site, p, masks, used

    def forward(self, x):
        self.used[self.site] = self.used.get(self.site, 0) + 1
        return x * self.masks[self.site]


@contextlib.contextmanager
def attention_masks(attn_modules: dict, masks: dict, used: dict):
    """While an attention module runs, F.dropout (its call on the probabilities) multiplies by the module's mask."""
    current: list = []
    real = torch.nn.functional.dropout

    def fake(x, p=0.5, training=True, inplace=False):
        assert current and training and p > 0, "F.dropout called outside an attention module or in eval mode"
        site = current[-1]
        used[site] = used.get(site, 0) + 1
        return x * masks[site]

    def enter(site):
        return lambda _m, _a: current.append(site)  # returns None: the inputs are unchanged

    def leave(_m, _a, _o):
        current.pop()  # returns None: the output is unchanged

    handles = []
    for site, m in attn_modules.items():
        handles.append(m.register_forward_pre_hook(enter(site)))
        handles.append(m.register_forward_hook(leave))
    torch.nn.functional.dropout = fake
    try:
        yield
    finally:
        torch.nn.functional.dropout = real
        for h in handles:
            h.remove()


def draw(shape, p, g):
    return torch.bernoulli(torch.full(shape, 1 - p), generator=g) / (1 - p)


def main():
    torch.manual_seed(0)
    # GPT-2: sites by GPT2LMHeadModel's module paths.
    probs = {"embd_pdrop": 0.1, "attn_pdrop": 0.2, "resid_pdrop": 0.15}
    run("gpt2", GPT2LMHeadModel, "gpt2-tiny", probs, ["c_attn", "c_proj", "c_fc"], 1, gpt2_sites)
    run("llama", LlamaForCausalLM, "llama-tiny-gqa-bf16", {"attention_dropout": 0.3},
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], 2, llama_sites)


def gpt2_sites(model, c):
    tr = model.transformer
    d, H = c.n_embd, c.n_head
    s = {"transformer.drop": (c.embd_pdrop, (B, T, d), tr, "drop", None)}
    for i, blk in enumerate(tr.h):
        s[f"transformer.h.{i}.attn.attn_dropout"] = (c.attn_pdrop, (B, H, T, T), None, None, blk.attn)
        s[f"transformer.h.{i}.attn.resid_dropout"] = (c.resid_pdrop, (B, T, d), blk.attn, "resid_dropout", None)
        s[f"transformer.h.{i}.mlp.dropout"] = (c.resid_pdrop, (B, T, d), blk.mlp, "dropout", None)
    return s


def llama_sites(model, c):
    return {
        f"model.layers.{i}.self_attn.attention_dropout": (c.attention_dropout, (B, c.num_attention_heads, T, T), None, None, layer.self_attn)
        for i, layer in enumerate(model.model.layers)
    }


def run(name, cls, fixture, probs, targets, seed, sites_of):
    model = cls.from_pretrained(FIXTURES / fixture, torch_dtype=torch.float32, attn_implementation="eager", **probs)
    sites = sites_of(model, model.config)
    assert all(v > 0 for v in probs.values())
    case_with(name, model, fixture, probs, sites, targets, seed, cls)


def case_with(name, model, fixture, probs, sites, targets, seed, cls):
    pm = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=targets, task_type="CAUSAL_LM"))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in sorted(pm.named_parameters()):
            if ".lora_A." in n or ".lora_B." in n:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    ids = torch.randint(0, model.config.vocab_size, (B, T), generator=g)

    pm.eval()
    eval_loss = pm(input_ids=ids, labels=ids).loss.item()

    masks, used, attn_modules = {}, {}, {}
    for site, (p, shape, parent, attr, attn) in sites.items():
        masks[site] = draw(shape, p, g)
        if attn is None:
            setattr(parent, attr, FixedMask(site, p, masks, used))
        else:
            attn_modules[site] = attn
    pm.train()
    with attention_masks(attn_modules, masks, used):
        loss = pm(input_ids=ids, labels=ids).loss
    assert used == {s: 1 for s in sites}, used
    loss.backward()
    grads = {n.replace(".default.", "."): p.grad for n, p in pm.named_parameters() if p.requires_grad}
    assert all(v is not None and v.abs().max() > 0 for v in grads.values())
    adapter = {n.replace(".default.", "."): {"shape": list(p.shape), "data": flat(p)} for n, p in pm.named_parameters() if p.requires_grad}
    # The same masks all ones (no dropout) in train mode must give the eval loss: the injection is the only difference.
    keep = {s: m.clone() for s, m in masks.items()}
    for s in masks:
        masks[s] = torch.ones_like(masks[s])
    with torch.no_grad(), attention_masks(attn_modules, masks, used):
        ones_loss = pm(input_ids=ids, labels=ids).loss.item()
    assert abs(ones_loss - eval_loss) < 1e-6, (ones_loss, eval_loss)
    keep_rate = sum(float((m > 0).float().mean()) for m in keep.values()) / len(keep)
    out = {
        "note": (
            f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}: {cls.__name__} from "
            f"test/fixtures/{fixture} with {probs}, eager attention, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, "
            f"target_modules={targets}), A and B 0.2·randn; model.train() with each dropout's mask fixed (bernoulli(1-p)/(1-p), "
            "stored in `masks` by module path, HF layout); loss: mean next-token cross-entropy with labels=input_ids; grads: "
            "loss.backward() in PEFT's layout (lora_A (r, in), lora_B (out, r)); evalLoss: the same in model.eval() "
            "(equal to train mode with all-ones masks, checked)."
        ),
        "fixture": fixture,
        "probs": probs,
        "lora": {"r": 4, "alpha": 8, "targets": targets},
        "input_ids": ids.tolist(),
        "adapter": adapter,
        "masks": {s: {"p": sites[s][0], "shape": list(m.shape), "data": flat(m)} for s, m in keep.items()},
        "loss": loss.item(),
        "evalLoss": eval_loss,
        "grads": {n: flat(v) for n, v in sorted(grads.items())},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(out))
    print(f"{name}: train loss {loss.item():.6f} (eval {eval_loss:.6f}), {len(keep)} masks, mean keep rate {keep_rate:.3f}")


if __name__ == "__main__":
    main()
