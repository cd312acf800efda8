#!/usr/bin/env python3
"""Generate the golden test fixtures for LoRA Lab's TypeScript engine.

Purpose
-------
The TypeScript engine (TensorFlow.js) loads Hugging Face safetensors
checkpoints, runs causal-LM forward passes and trains / saves PEFT-compatible
LoRA adapters.  This script produces small, deterministic reference fixtures
with the *real* Python stack (torch + transformers + peft) so the TypeScript
tests can compare against them:

  test/fixtures/<model>/config.json, *.safetensors, golden.json
      tiny randomly initialised models (GPT-2, Llama/GQA stored as bf16,
      Qwen2 with q/k/v biases and tied embeddings, Mistral with head_dim !=
      hidden/heads stored as f16 and sharded, plus a GPT-2 checkpoint with
      bare key names and the legacy attn.bias / attn.masked_bias buffers)
      and their float32 reference logits.
  test/fixtures/<option fixture>/config.json, model.safetensors, golden.json
      one tiny F32 model per config option: llama3 and linear RoPE scaling,
      Llama attention_bias + mlp_bias, Mistral sliding_window, GPT-2
      scale_attn_by_inverse_layer_idx, GPT-2 relu with n_inner.
  test/fixtures/<model>/lora-<variant>/adapter_config.json,
      adapter_model.safetensors (PEFT's own output) and golden.json with the
      adapter model's logits, loss, LoRA gradients and merged-model logits.
  test/fixtures/peft-param-counts.json
      trainable / total parameter counts as PEFT reports them for real model
      configs (built on the meta device, so no memory is used).

No network access is needed: every model is built from a config in code (no
Hugging Face Hub ids).  Everything is seeded, so re-running it rewrites the
same weights.

How to run
----------
    /work/pyref/bin/pip install -r scripts/requirements-ref.txt   # once
    /work/pyref/bin/python scripts/gen_golden.py

It (re)writes test/fixtures/ (only the folders/files listed above).
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import sys
from pathlib import Path

# PEFT stores some target_modules (e.g. the "all-linear" expansion) as a Python
# set, so adapter_config.json's list order depends on string hashing: pin it.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import peft  # noqa: E402
import safetensors  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from peft.tuners.lora import LoraLayer  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

transformers.logging.set_verbosity_error()

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "test" / "fixtures"

BATCH = 2
SEQ_LEN = 10
WEIGHT_STD = 0.15  # std of re-randomised matrices / embeddings
LORA_STD = 0.1  # std of re-randomised lora_A / lora_B

torch.set_num_threads(1)  # fixed reduction order for reproducible references


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def to_json_numbers(t: torch.Tensor):
    """Tensor -> nested list of numbers.

    Each value is the float32 value written with the shortest decimal string
    that round-trips to the same float32 (Math.fround(x) in JS recovers it
    exactly)."""
    a = t.detach().to(torch.float32).cpu().numpy()
    if not np.all(np.isfinite(a)):
        raise ValueError("non-finite value in reference tensor")
    flat = [float(str(v)) for v in a.reshape(-1)]

    def nest(values, shape):
        if len(shape) == 0:
            return values[0]
        if len(shape) == 1:
            return values
        step = len(values) // shape[0]
        return [nest(values[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]

    return nest(flat, list(a.shape))


def write_json(path: Path, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def write_pretty_json(path: Path, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def hub_style_config(config) -> dict:
    """The config dict exactly as transformers' save_pretrained writes it,
    plus the legacy top-level keys that most Hub configs still carry
    (transformers >= 5 writes "dtype" and "rope_parameters" instead)."""
    d = json.loads(config.to_json_string(use_diff=True))
    if d.get("dtype") is not None and "torch_dtype" not in d:
        d["torch_dtype"] = d["dtype"]
    rp = d.get("rope_parameters")
    if isinstance(rp, dict) and "rope_theta" in rp and "rope_theta" not in d:
        d["rope_theta"] = rp["rope_theta"]
    # A scaled RoPE (linear, llama3, ...) is also written as the classic
    # "rope_scaling" dict (rope_parameters without rope_theta), which is how
    # configs saved before transformers 5 spell it. transformers 5 reads
    # either (rope_scaling wins when both are present); the values are equal.
    if (isinstance(rp, dict) and rp.get("rope_type", "default") != "default"
            and d.get("rope_scaling") is None):
        d["rope_scaling"] = {k: v for k, v in sorted(rp.items()) if k != "rope_theta"}
    return dict(sorted(d.items()))


def rewrite_config_json(folder: Path, config) -> None:
    write_pretty_json(folder / "config.json", hub_style_config(config))


def perturb_(model: torch.nn.Module, seed: int) -> None:
    """Re-randomise every parameter so no test can pass with trivial values:
    norm weights 1 + 0.1*randn, all biases 0.1*randn, matrices and
    embeddings WEIGHT_STD*randn."""
    g = torch.Generator().manual_seed(seed)
    done: set[int] = set()
    with torch.no_grad():
        for _name, module in model.named_modules():
            is_norm = isinstance(module, torch.nn.LayerNorm) or type(module).__name__.endswith("RMSNorm")
            for pname, p in module.named_parameters(recurse=False):
                if id(p) in done:  # tied weights: randomise once
                    continue
                done.add(id(p))
                noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
                if is_norm and pname == "weight":
                    p.copy_(1.0 + 0.1 * noise)
                elif pname == "bias":
                    p.copy_(0.1 * noise)
                else:
                    p.copy_(WEIGHT_STD * noise)


def make_input_ids(vocab_size: int, seed: int, seq_len: int = SEQ_LEN) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab_size, (BATCH, seq_len), generator=g)
    ids[0, 0] = vocab_size - 1  # make sure the highest id is exercised
    ids[1, 0] = 0
    return ids


def load_f32(cls, folder: Path):
    """Load a fixture back from disk as float32 with eager attention."""
    model = cls.from_pretrained(str(folder), dtype=torch.float32, attn_implementation="eager")
    model.eval()
    return model


@torch.no_grad()
def logits_of(model, input_ids: torch.Tensor) -> torch.Tensor:
    return model(input_ids=input_ids).logits.float()


def clean_dir(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def safetensors_keys(path: Path) -> dict:
    with safe_open(str(path), "pt") as f:
        out = {}
        for k in sorted(f.keys()):
            sl = f.get_slice(k)
            out[k] = (sl.get_dtype(), list(sl.get_shape()))
        return out


# --------------------------------------------------------------------------
# base models
# --------------------------------------------------------------------------

def build(cls, config, seed: int):
    torch.manual_seed(seed)
    config._attn_implementation = "eager"
    model = cls(config)
    perturb_(model, seed + 1)
    model.eval()
    return model


def save_model_fixture(name, cls, config, seed, save_dtype, note, max_shard_size=None, seq_len=SEQ_LEN):
    folder = FIXTURES / name
    clean_dir(folder)
    model = build(cls, config, seed)
    model = model.to(save_dtype)
    kwargs = {"safe_serialization": True}
    if max_shard_size is not None:
        kwargs["max_shard_size"] = max_shard_size
    model.save_pretrained(str(folder), **kwargs)
    gen_cfg = folder / "generation_config.json"
    if gen_cfg.exists():
        gen_cfg.unlink()
    rewrite_config_json(folder, model.config)

    # Reference: reload what was written (rounded to save_dtype), run in f32.
    ref = load_f32(cls, folder)
    input_ids = make_input_ids(config.vocab_size, seed + 2, seq_len)
    logits = logits_of(ref, input_ids)
    write_json(folder / "golden.json", {
        "input_ids": input_ids.tolist(),
        "logits": to_json_numbers(logits),
        "hidden_size": config.hidden_size,
        "vocab_size": config.vocab_size,
        "note": note,
    })
    return folder, input_ids, logits


def gpt2_config():
    return GPT2Config(
        n_layer=2, n_embd=32, n_head=4, vocab_size=96, n_positions=64,
        activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=95, eos_token_id=95, architectures=["GPT2LMHeadModel"],
    )


def llama_config():
    return LlamaConfig(
        hidden_size=64, num_attention_heads=4, num_key_value_heads=2, intermediate_size=96,
        num_hidden_layers=2, vocab_size=128, rope_theta=500000.0, rms_norm_eps=1e-5,
        tie_word_embeddings=False, max_position_embeddings=128,
        bos_token_id=1, eos_token_id=2, architectures=["LlamaForCausalLM"],
    )


def qwen2_config():
    return Qwen2Config(
        hidden_size=64, num_attention_heads=4, num_key_value_heads=2, intermediate_size=96,
        num_hidden_layers=2, vocab_size=128, tie_word_embeddings=True, rope_theta=1000000.0,
        rms_norm_eps=1e-6, max_position_embeddings=128,
        bos_token_id=126, eos_token_id=127, architectures=["Qwen2ForCausalLM"],
    )


def mistral_config():
    return MistralConfig(
        hidden_size=64, num_attention_heads=4, num_key_value_heads=1, head_dim=24,
        intermediate_size=80, num_hidden_layers=3, vocab_size=112, tie_word_embeddings=False,
        rope_theta=10000.0, rms_norm_eps=1e-5, max_position_embeddings=128, sliding_window=None,
        bos_token_id=1, eos_token_id=2, architectures=["MistralForCausalLM"],
    )


def gen_gpt2_bare(src_folder: Path, ref_logits: torch.Tensor, input_ids: torch.Tensor):
    """Same weights as gpt2-tiny, with the bare key names of the original
    openai gpt2 checkpoint and its legacy attention buffers."""
    folder = FIXTURES / "gpt2-tiny-bare"
    clean_dir(folder)
    cfg = json.loads((src_folder / "config.json").read_text())
    n_pos = cfg["n_positions"]
    tensors = {}
    with safe_open(str(src_folder / "model.safetensors"), "pt") as f:
        for k in f.keys():
            bare = k[len("transformer."):] if k.startswith("transformer.") else k
            tensors[bare] = f.get_tensor(k).contiguous()
    for i in range(cfg["n_layer"]):
        tensors[f"h.{i}.attn.bias"] = torch.tril(torch.ones(n_pos, n_pos, dtype=torch.float32)).view(1, 1, n_pos, n_pos).contiguous()
        tensors[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4, dtype=torch.float32)
    save_file(dict(sorted(tensors.items())), str(folder / "model.safetensors"), metadata={"format": "pt"})
    shutil.copyfile(src_folder / "config.json", folder / "config.json")

    ref = load_f32(GPT2LMHeadModel, folder)
    logits = logits_of(ref, input_ids)
    diff = (logits - ref_logits).abs().max().item()
    assert diff == 0.0, f"gpt2-tiny-bare logits differ from gpt2-tiny by {diff}"
    write_json(folder / "golden.json", {
        "input_ids": input_ids.tolist(),
        "logits": to_json_numbers(logits),
        "hidden_size": cfg["n_embd"],
        "vocab_size": cfg["vocab_size"],
        "note": ("Same weights as gpt2-tiny, keys without the 'transformer.' prefix plus legacy "
                 "h.<i>.attn.bias (tril ones [1,1,n_positions,n_positions] f32) and "
                 "h.<i>.attn.masked_bias (scalar -1e4) buffers, which a loader must ignore. "
                 "Logits computed by transformers (float32, eager) after loading this file; "
                 "identical to gpt2-tiny/golden.json."),
    })


# --------------------------------------------------------------------------
# config-option fixtures: one model per option the engine reads from
# config.json, F32, single file, small enough to keep in the repository
# --------------------------------------------------------------------------

OPTION_FIXTURE_MAX_BYTES = 100_000


def tiny_llama_kwargs(**overrides):
    kw = dict(
        hidden_size=32, num_attention_heads=2, num_key_value_heads=1, intermediate_size=32,
        num_hidden_layers=2, vocab_size=48, rope_theta=10000.0, rms_norm_eps=1e-5,
        tie_word_embeddings=True, max_position_embeddings=64,
        bos_token_id=1, eos_token_id=2, architectures=["LlamaForCausalLM"],
    )
    kw.update(overrides)
    return kw


def llama_rope_llama3_config():
    # original_max_position_embeddings=32 (not 16): the shortest rotary
    # wavelength is always 2*pi (i = 0), so the unscaled high-frequency band
    # (wavelength < original_max / high_freq_factor) only exists when
    # original_max / 4 > 2*pi, i.e. original_max >= 26.
    return LlamaConfig(**tiny_llama_kwargs(rope_scaling={
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 32,
    }))


def llama_rope_linear_config():
    return LlamaConfig(**tiny_llama_kwargs(rope_scaling={"rope_type": "linear", "factor": 2.0}))


def llama_attn_bias_config():
    return LlamaConfig(**tiny_llama_kwargs(
        intermediate_size=48, vocab_size=64, attention_bias=True, mlp_bias=True))


def mistral_sliding_config():
    return MistralConfig(
        hidden_size=32, num_attention_heads=2, num_key_value_heads=1, intermediate_size=48,
        num_hidden_layers=2, vocab_size=64, tie_word_embeddings=False, rope_theta=10000.0,
        rms_norm_eps=1e-5, max_position_embeddings=64, sliding_window=4,
        bos_token_id=1, eos_token_id=2, architectures=["MistralForCausalLM"],
    )


def gpt2_inverse_layer_idx_config():
    return GPT2Config(
        n_layer=3, n_embd=16, n_head=2, vocab_size=64, n_positions=16,
        activation_function="gelu_new", scale_attn_by_inverse_layer_idx=True,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=63, eos_token_id=63, architectures=["GPT2LMHeadModel"],
    )


def gpt2_relu_config():
    return GPT2Config(
        n_layer=2, n_embd=32, n_head=4, n_inner=48, vocab_size=64, n_positions=16,
        activation_function="relu", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=63, eos_token_id=63, architectures=["GPT2LMHeadModel"],
    )


def logits_with_changed_config(cls, folder: Path, input_ids: torch.Tensor, **changes) -> torch.Tensor:
    """Logits of the fixture's own weights under its config with `changes`
    applied (typically the option switched off)."""
    ref = load_f32(cls, folder)
    cfg = copy.deepcopy(ref.config)
    for key, value in changes.items():
        setattr(cfg, key, value)
    cfg._attn_implementation = "eager"
    other = cls(cfg)
    other.load_state_dict(ref.state_dict())
    other.eval()
    return logits_of(other, input_ids)


def append_note(folder: Path, text: str) -> None:
    path = folder / "golden.json"
    g = json.loads(path.read_text())
    g["note"] = g["note"] + " " + text
    write_json(path, g)


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def check_classic_rope_keys(folder: Path, expected: dict) -> dict:
    """config.json must give the same RoPE to a transformers-5 reader
    (rope_parameters) and to a reader of the classic rope_scaling/rope_theta
    keys; transformers must load back exactly `expected`."""
    cfg = json.loads((folder / "config.json").read_text())
    rp, rs = cfg["rope_parameters"], cfg["rope_scaling"]
    assert rp["rope_theta"] == cfg["rope_theta"] == expected["rope_theta"], cfg
    assert {k: v for k, v in rp.items() if k != "rope_theta"} == rs, (rp, rs)
    assert rp == expected, (rp, expected)
    return cfg


def expected_inv_freq(head_dim: int, rp: dict) -> np.ndarray:
    """The scaled rotary inverse frequencies, recomputed in float64 from the
    formulas (Llama 3.1 reference code / linear position interpolation)."""
    inv = 1.0 / rp["rope_theta"] ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if rp["rope_type"] == "linear":
        return inv / rp["factor"]
    assert rp["rope_type"] == "llama3"
    factor, lo, hi = rp["factor"], rp["low_freq_factor"], rp["high_freq_factor"]
    orig = rp["original_max_position_embeddings"]
    out = inv.copy()
    for i, f in enumerate(inv):
        wavelen = 2 * math.pi / f
        if wavelen < orig / hi:
            out[i] = f
        elif wavelen > orig / lo:
            out[i] = f / factor
        else:
            smooth = (orig / wavelen - lo) / (hi - lo)
            out[i] = (1 - smooth) * f / factor + smooth * f
    return out


def llama3_bands(head_dim: int, rp: dict) -> tuple[int, int, int]:
    """(unscaled, blended, divided-by-factor) frequency counts."""
    inv = 1.0 / rp["rope_theta"] ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    wavelen = 2 * math.pi / inv
    orig = rp["original_max_position_embeddings"]
    high = int(np.sum(wavelen < orig / rp["high_freq_factor"]))
    low = int(np.sum(wavelen > orig / rp["low_freq_factor"]))
    return high, len(inv) - high - low, low


def gen_rope_fixture(name: str, config, seed: int, seq_len: int, note: str) -> None:
    folder, ids, logits = save_model_fixture(
        name, LlamaForCausalLM, config, seed, torch.float32, note, seq_len=seq_len)
    rp = dict(config.rope_parameters)
    check_classic_rope_keys(folder, rp)
    ref = load_f32(LlamaForCausalLM, folder)
    assert dict(ref.config.rope_parameters) == rp, ref.config.rope_parameters
    head_dim = config.hidden_size // config.num_attention_heads
    want = expected_inv_freq(head_dim, rp)
    got = ref.model.rotary_emb.inv_freq.double().numpy()
    rel = float(np.max(np.abs(got - want) / want))
    assert rel < 1e-6, (got, want)
    plain = logits_with_changed_config(
        LlamaForCausalLM, folder, ids, rope_parameters={"rope_type": "default", "rope_theta": rp["rope_theta"]})
    diff = (plain - logits).abs().max().item()
    assert diff > 1e-2, f"{name}: scaling does not change the logits ({diff})"
    text = (f"Check: the loaded rotary_emb.inv_freq equals the scaling formula recomputed in float64 "
            f"(max rel. error {rel:.2g}); the same weights with rope_type 'default' give logits that "
            f"differ by up to {diff:.3g}.")
    if rp["rope_type"] == "llama3":
        bands = llama3_bands(head_dim, rp)
        assert min(bands) > 0, bands
        text += (f" Frequency bands for head_dim {head_dim}: {bands[0]} kept, {bands[1]} blended, "
                 f"{bands[2]} divided by factor.")
        print(f"  llama3 bands (kept, blended, divided): {bands}")
    append_note(folder, text)
    print(f"  inv_freq max rel err {rel:.2g}; |logits - unscaled| max {diff:.4g}")


def gen_sliding_fixture(name: str, config, seed: int, seq_len: int, note: str) -> None:
    window = config.sliding_window
    folder, ids, logits = save_model_fixture(
        name, MistralForCausalLM, config, seed, torch.float32, note, seq_len=seq_len)
    ref = load_f32(MistralForCausalLM, folder)
    assert ref.config.sliding_window == window and ref.config._attn_implementation == "eager"
    # The eager path must really apply the window: inspect its attention weights.
    with torch.no_grad():
        attentions = ref(input_ids=ids, output_attentions=True).attentions
    assert len(attentions) == config.num_hidden_layers
    q = torch.arange(seq_len).view(-1, 1)
    k = torch.arange(seq_len).view(1, -1)
    visible = (k <= q) & (q - k < window)
    for a in attentions:
        assert a.shape[-2:] == (seq_len, seq_len), a.shape
        assert torch.all(a[..., ~visible] == 0), "eager attention ignores the sliding window"
        assert torch.all(a[..., visible] > 0)
    full = logits_with_changed_config(MistralForCausalLM, folder, ids, sliding_window=None)
    per_pos = (full - logits).abs().amax(dim=(0, 2))
    inside, beyond = per_pos[:window].max().item(), per_pos[window:].min().item()
    assert inside == 0.0, f"positions < window differ from full attention by {inside}"
    assert beyond > 1e-3, f"positions >= window barely differ from full attention ({beyond})"
    diff = per_pos.max().item()
    append_note(folder, (
        f"Check: in every layer the eager attention weights are exactly 0 for keys k with q - k >= {window} "
        f"and > 0 for the {window} most recent keys; the same weights with sliding_window=None give "
        f"identical logits at positions 0..{window - 1} and logits that differ by {beyond:.3g} to "
        f"{diff:.3g} (max abs per position) at positions {window}..{seq_len - 1}."))
    print(f"  |logits - full attention| per position: {[f'{v:.3g}' for v in per_pos.tolist()]}")


def gen_option_fixtures(common: str) -> None:
    print("llama-tiny-rope-llama3")
    gen_rope_fixture(
        "llama-tiny-rope-llama3", llama_rope_llama3_config(), 5000, 36,
        common + "Llama 3.1 RoPE scaling: rope_type llama3, factor 8, low_freq_factor 1, high_freq_factor 4, "
                 "original_max_position_embeddings 32, rope_theta 1e4, head_dim 16, 36 positions "
                 "(beyond original_max). config.json carries it twice with the same values: "
                 "rope_parameters (as transformers 5 writes it, rope_theta inside) and the classic "
                 "rope_scaling dict (same keys without rope_theta) plus top-level rope_theta. "
                 "Tied embeddings, GQA 2:1, F32.")
    print("llama-tiny-rope-linear")
    gen_rope_fixture(
        "llama-tiny-rope-linear", llama_rope_linear_config(), 5100, 24,
        common + "Linear RoPE scaling (position interpolation): rope_type linear, factor 2, rope_theta 1e4, "
                 "head_dim 16, 24 positions. config.json carries it twice with the same values: "
                 "rope_parameters (as transformers 5 writes it, rope_theta inside) and the classic "
                 "rope_scaling dict (same keys without rope_theta) plus top-level rope_theta. "
                 "Tied embeddings, GQA 2:1, F32.")

    print("llama-tiny-attn-bias")
    folder, _, _ = save_model_fixture(
        "llama-tiny-attn-bias", LlamaForCausalLM, llama_attn_bias_config(), 5200, torch.float32,
        common + "Llama with attention_bias=true (biases on q_proj, k_proj, v_proj and o_proj) and "
                 "mlp_bias=true (biases on gate_proj, up_proj and down_proj), tied embeddings (no "
                 "lm_head.weight in the file), GQA 2:1, F32.")
    keys = safetensors_keys(folder / "model.safetensors")
    for i in range(llama_attn_bias_config().num_hidden_layers):
        for proj in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                     "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"):
            assert f"model.layers.{i}.{proj}.bias" in keys, (i, proj)
    assert "lm_head.weight" not in keys

    print("mistral-tiny-sliding")
    gen_sliding_fixture(
        "mistral-tiny-sliding", mistral_sliding_config(), 6000, 12,
        common + "Mistral with sliding_window=4 (query q sees keys k with q - 4 < k <= q), 12 positions, "
                 "2 layers, GQA 2:1, separate lm_head, F32.")

    print("gpt2-tiny-inverse-layer-idx")
    folder, ids, logits = save_model_fixture(
        "gpt2-tiny-inverse-layer-idx", GPT2LMHeadModel, gpt2_inverse_layer_idx_config(), 7000, torch.float32,
        common + "GPT-2 with scale_attn_by_inverse_layer_idx=true (attention scores of layer i scaled by "
                 "1/sqrt(head_dim)/(i+1)), 3 layers, head_dim 8, activation_function gelu_new, F32.")
    off = logits_with_changed_config(GPT2LMHeadModel, folder, ids, scale_attn_by_inverse_layer_idx=False)
    diff = (off - logits).abs().max().item()
    assert diff > 1e-2, diff
    append_note(folder, f"Check: the same weights with scale_attn_by_inverse_layer_idx=false give logits "
                        f"that differ by up to {diff:.3g}.")
    print(f"  |logits - unscaled| max {diff:.4g}")

    print("gpt2-tiny-relu")
    save_model_fixture(
        "gpt2-tiny-relu", GPT2LMHeadModel, gpt2_relu_config(), 7100, torch.float32,
        common + "GPT-2 with activation_function relu and n_inner=48 (MLP width 48, not 4*n_embd=128), "
                 "2 layers, F32.")

    for name in ("llama-tiny-rope-llama3", "llama-tiny-rope-linear", "llama-tiny-attn-bias",
                 "mistral-tiny-sliding", "gpt2-tiny-inverse-layer-idx", "gpt2-tiny-relu"):
        size = folder_bytes(FIXTURES / name)
        print(f"  {name}: {size:,} bytes")
        assert size < OPTION_FIXTURE_MAX_BYTES, (name, size)


# --------------------------------------------------------------------------
# LoRA references
# --------------------------------------------------------------------------

def gen_lora(model_name: str, cls, variant: str, lora_kwargs: dict, seed: int, input_ids: torch.Tensor):
    base_folder = FIXTURES / model_name
    folder = base_folder / f"lora-{variant}"
    clean_dir(folder)

    base = load_f32(cls, base_folder)
    # PEFT records this as adapter_config.base_model_name_or_path; use the
    # fixture folder name instead of this machine's absolute path.
    base.name_or_path = model_name
    lcfg = LoraConfig(lora_dropout=0.0, bias="none", task_type="CAUSAL_LM", **lora_kwargs)
    pm = get_peft_model(base, lcfg)
    pm.eval()  # dropout is 0 anyway; eval() does not stop gradients

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(pm.named_parameters()):
            if ".lora_A." in name or ".lora_B." in name:
                p.copy_(LORA_STD * torch.randn(p.shape, generator=g, dtype=torch.float32))

    pm.save_pretrained(str(folder))
    readme = folder / "README.md"  # PEFT's boilerplate model card: not needed
    if readme.exists():
        readme.unlink()
    saved = safetensors_keys(folder / "adapter_model.safetensors")

    out = pm(input_ids=input_ids, labels=input_ids)
    logits = out.logits.float()
    loss = out.loss
    # Cross-check HF's loss against the plain shift-by-one definition.
    manual = F.cross_entropy(logits[:, :-1, :].reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1))
    assert abs(manual.item() - loss.item()) < 1e-5, (manual.item(), loss.item())
    loss.backward()

    grads = {}
    for name, p in pm.named_parameters():
        if not p.requires_grad:
            continue
        key = name.replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B.")
        assert p.grad is not None, name
        grads[key] = p.grad.detach().clone()
    assert set(grads) == set(saved), (sorted(set(grads) ^ set(saved)))

    scaling = next(m for m in pm.modules() if isinstance(m, LoraLayer)).scaling["default"]
    trainable, total = pm.get_nb_trainable_parameters()

    merged = pm.merge_and_unload()
    merged.eval()
    logits_merged = logits_of(merged, input_ids)
    merge_diff = (logits_merged - logits.detach()).abs().max().item()

    adapter_cfg = json.loads((folder / "adapter_config.json").read_text())
    write_json(folder / "golden.json", {
        "input_ids": input_ids.tolist(),
        "logits_adapter": to_json_numbers(logits),
        "loss": float(loss.item()),
        "grads": {k: to_json_numbers(grads[k]) for k in sorted(grads)},
        "logits_merged": to_json_numbers(logits_merged),
        "scaling": scaling,
        "trainable_params": trainable,
        "total_params": total,
        "note": (f"PEFT {peft.__version__} get_peft_model on ../ (loaded as float32, eager attention) with "
                 f"LoraConfig({', '.join(f'{k}={v!r}' for k, v in lora_kwargs.items())}, lora_dropout=0.0); "
                 f"every lora_A/lora_B re-drawn as {LORA_STD}*randn. logits_adapter: PEFT model forward; "
                 "loss: mean next-token cross-entropy with labels=input_ids (logits[:, :-1] vs ids[:, 1:]); "
                 "grads: d loss / d lora weight from loss.backward(), keys as in adapter_model.safetensors, "
                 "PyTorch layout (lora_A [r, in_features], lora_B [out_features, r]); "
                 "logits_merged: after merge_and_unload(). "
                 f"adapter_config fan_in_fan_out={adapter_cfg.get('fan_in_fan_out')}."),
    })
    return {
        "folder": folder,
        "merge_diff": merge_diff,
        "loss": loss.item(),
        "keys": saved,
        "adapter_config": adapter_cfg,
    }


# --------------------------------------------------------------------------
# PEFT parameter counts on real configs (meta device)
# --------------------------------------------------------------------------

def real_configs():
    gpt2 = GPT2Config(
        n_layer=12, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024, n_ctx=1024,
        activation_function="gelu_new", bos_token_id=50256, eos_token_id=50256,
        architectures=["GPT2LMHeadModel"], dtype="float32",
    )
    distilgpt2 = GPT2Config(
        n_layer=6, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024, n_ctx=1024,
        activation_function="gelu_new", bos_token_id=50256, eos_token_id=50256,
        architectures=["GPT2LMHeadModel"], dtype="float32",
    )
    smollm = LlamaConfig(
        hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True,
        max_position_embeddings=2048, rope_theta=10000.0, rms_norm_eps=1e-5,
        bos_token_id=0, eos_token_id=0, architectures=["LlamaForCausalLM"], dtype="bfloat16",
    )
    tinyllama = LlamaConfig(
        hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
        num_key_value_heads=4, vocab_size=32000, tie_word_embeddings=False,
        max_position_embeddings=2048, rope_theta=10000.0, rms_norm_eps=1e-5,
        bos_token_id=1, eos_token_id=2, architectures=["LlamaForCausalLM"], dtype="bfloat16",
    )
    qwen2 = Qwen2Config(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True,
        max_position_embeddings=131072, rope_theta=1000000.0, rms_norm_eps=1e-6,
        max_window_layers=24, sliding_window=131072, use_sliding_window=False,
        bos_token_id=151643, eos_token_id=151643, architectures=["Qwen2ForCausalLM"], dtype="bfloat16",
    )
    mistral = MistralConfig(
        hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=8, vocab_size=32000, tie_word_embeddings=False,
        max_position_embeddings=32768, rope_theta=10000.0, rms_norm_eps=1e-5, sliding_window=4096,
        bos_token_id=1, eos_token_id=2, architectures=["MistralForCausalLM"], dtype="bfloat16",
    )
    return gpt2, distilgpt2, smollm, tinyllama, qwen2, mistral


def count_params(config, lora: dict):
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    kwargs = dict(lora)
    kwargs.setdefault("lora_alpha", 2 * kwargs["r"])
    pm = get_peft_model(model, LoraConfig(lora_dropout=0.0, task_type="CAUSAL_LM", **kwargs))
    trainable, total = pm.get_nb_trainable_parameters()
    adapted = sorted({n.rsplit(".lora_A", 1)[0] for n, _ in pm.named_parameters() if ".lora_A." in n})
    return trainable, total, total - trainable, adapted


def gen_param_counts():
    gpt2, distilgpt2, smollm, tinyllama, qwen2, mistral = real_configs()
    cases = [
        ("gpt2 r=8 c_attn (default targets)", gpt2, {"r": 8, "target_modules": ["c_attn"]}),
        ("gpt2 r=16 c_attn+c_proj+c_fc", gpt2, {"r": 16, "target_modules": ["c_attn", "c_proj", "c_fc"]}),
        ("gpt2 r=8 all-linear", gpt2, {"r": 8, "target_modules": "all-linear"}),
        ("gpt2 r=8 c_attn layers_to_transform=[0,2]", gpt2, {"r": 8, "target_modules": ["c_attn"], "layers_to_transform": [0, 2]}),
        ("gpt2 r=8 c_attn use_rslora", gpt2, {"r": 8, "target_modules": ["c_attn"], "use_rslora": True}),
        ("distilgpt2 r=8 c_attn", distilgpt2, {"r": 8, "target_modules": ["c_attn"]}),
        ("SmolLM-135M r=8 q_proj,v_proj", smollm, {"r": 8, "target_modules": ["q_proj", "v_proj"]}),
        ("SmolLM-135M r=8 all-linear", smollm, {"r": 8, "target_modules": "all-linear"}),
        ("TinyLlama-1.1B r=8 q_proj,v_proj", tinyllama, {"r": 8, "target_modules": ["q_proj", "v_proj"]}),
        ("Qwen2-0.5B r=8 q_proj,v_proj", qwen2, {"r": 8, "target_modules": ["q_proj", "v_proj"]}),
        ("Qwen2-0.5B r=16 all-linear", qwen2, {"r": 16, "target_modules": "all-linear"}),
        ("Mistral-7B-v0.1 r=16 q,k,v,o", mistral, {"r": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}),
    ]
    out = []
    for name, config, lora in cases:
        trainable, total, base, adapted = count_params(config, lora)
        suffixes = sorted({a.split(".")[-1] for a in adapted})
        out.append({
            "name": name,
            "config": hub_style_config(config),
            "lora": lora,
            "trainable": trainable,
            "total": total,
            "base_params": base,
            "adapted_module_count": len(adapted),
            "adapted_module_names": suffixes,
        })
        print(f"  {name}: trainable {trainable:,} / total {total:,} ({len(adapted)} modules: {suffixes})")
    # A bare list of cases. How the numbers were obtained: peft/transformers at the
    # versions in requirements-ref.txt; AutoModelForCausalLM.from_config(config) on the
    # meta device, get_peft_model(LoraConfig(**lora, lora_alpha=2r unless given,
    # lora_dropout=0)), then get_nb_trainable_parameters() (what
    # print_trainable_parameters prints; tied weights counted once).
    # base_params = total - trainable; adapted_module_names = distinct wrapped names.
    write_pretty_json(FIXTURES / "peft-param-counts.json", out)
    return out


# --------------------------------------------------------------------------

def main() -> int:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
          f"safetensors {safetensors.__version__}, numpy {np.__version__}")

    common = "transformers {} forward, float32, attn_implementation='eager', no padding (causal only). ".format(
        transformers.__version__)

    print("gpt2-tiny")
    g_folder, g_ids, g_logits = save_model_fixture(
        "gpt2-tiny", GPT2LMHeadModel, gpt2_config(), 1000, torch.float32,
        common + "Weights saved by save_pretrained (F32, tied lm_head omitted); logits from the reloaded file.")
    print("gpt2-tiny-bare")
    gen_gpt2_bare(g_folder, g_logits, g_ids)

    print("llama-tiny-gqa-bf16")
    _, l_ids, _ = save_model_fixture(
        "llama-tiny-gqa-bf16", LlamaForCausalLM, llama_config(), 2000, torch.bfloat16,
        common + "Weights stored as BF16; logits from the bf16-rounded weights cast to float32.")

    print("qwen2-tiny")
    _, q_ids, _ = save_model_fixture(
        "qwen2-tiny", Qwen2ForCausalLM, qwen2_config(), 3000, torch.float32,
        common + "Weights stored as F32, tied embeddings (no lm_head.weight in the file), q/k/v biases.")

    print("mistral-tiny-f16-sharded")
    save_model_fixture(
        "mistral-tiny-f16-sharded", MistralForCausalLM, mistral_config(), 4000, torch.float16,
        common + "head_dim=24 != hidden/heads=16, 1 kv head. Weights stored as F16 in shards with "
                 "model.safetensors.index.json; logits from the f16-rounded weights cast to float32.",
        max_shard_size="100KB")

    print("LoRA references")
    results = [
        gen_lora("gpt2-tiny", GPT2LMHeadModel, "r4-c_attn",
                 {"r": 4, "lora_alpha": 8, "target_modules": None}, 1100, g_ids),
        gen_lora("gpt2-tiny", GPT2LMHeadModel, "r4-c_attn-layer1",
                 {"r": 4, "lora_alpha": 8, "target_modules": ["c_attn"], "layers_to_transform": [1]}, 1200, g_ids),
        gen_lora("llama-tiny-gqa-bf16", LlamaForCausalLM, "r4-qv",
                 {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}, 2100, l_ids),
        gen_lora("llama-tiny-gqa-bf16", LlamaForCausalLM, "rslora-r4-a6",
                 {"r": 4, "lora_alpha": 6, "use_rslora": True, "target_modules": ["q_proj", "v_proj"]}, 2200, l_ids),
        gen_lora("qwen2-tiny", Qwen2ForCausalLM, "r4-all-linear",
                 {"r": 4, "lora_alpha": 8, "target_modules": "all-linear"}, 3100, q_ids),
    ]
    for r in results:
        print(f"  {r['folder'].relative_to(REPO)}: loss {r['loss']:.6f}, "
              f"max |merged - adapter| = {r['merge_diff']:.3g}, {len(r['keys'])} tensors")
        assert r["merge_diff"] < 1e-4, r["merge_diff"]

    print("PEFT parameter counts")
    counts = gen_param_counts()
    assert counts[0]["trainable"] == 294912 and counts[0]["total"] == 124734720, counts[0]

    print("config-option fixtures")
    gen_option_fixtures(common)
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
