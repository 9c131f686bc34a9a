"""What both sides of the PPO-step benchmark share: the named configs, the tokenizer, the prompts and
the models (built locally from GPT-2 or Llama configs, no download), so rlhfkit and TRL start from
the same weights and do the same work.

No EOS: responses are exactly T tokens. The policy (and its reference copy) is a causal LM whose output
layer adds a fixed bias of -1e4 to the logits of the tokenizer's special tokens (<pad>, <eos>, <unk>),
so they are never sampled (their probability is exp(-1e4) = 0 in fp32 and bf16). This is part of the
model, so sampling, scoring and the PPO updates all see the same distribution; the samplers of both
frameworks run unchanged (rlhfkit still checks for EOS and truncates, it just never finds one;
TRL runs with ``stop_token=None`` and never meets a pad token inside a response).
"""

from __future__ import annotations

import copy
import random
from dataclasses import asdict, dataclass

import torch
from torch import nn
from transformers import AutoModel, AutoModelForCausalLM, GPT2Config, LlamaConfig, PretrainedConfig

from rlhfkit.models.tokenizers import word_tokenizer

SPECIAL_LOGIT = -1.0e4  # added to the logits of <pad>, <eos>, <unk>: never sampled


@dataclass(frozen=True)
class BenchConfig:
    """One named benchmark configuration (the names mean the same as TRL's PPOConfig fields).

    batch: B rollouts per step (TRL per_device_train_batch_size; rlhfkit rollout_batch_size).
    response: T response tokens, exactly (TRL response_length; rlhfkit max_new_tokens).
    prompt: prompt tokens (every prompt has exactly this many).
    n_layer, width, heads, vocab: the transformer of the policy, reference, value and reward models.
    arch: "gpt2" (LayerNorm, GELU MLP of 4d, learned positions) or "llama" (RMSNorm, SwiGLU MLP of
    ``intermediate``, RoPE, ``kv_heads`` key/value heads: grouped-query attention).
    """

    name: str
    batch: int
    response: int
    prompt: int
    n_layer: int
    width: int
    heads: int
    vocab: int = 512
    arch: str = "gpt2"
    kv_heads: int | None = None     # llama: key/value heads (GQA); None = heads
    intermediate: int | None = None  # llama: SwiGLU width; None = 4 * width
    ppo_epochs: int = 4
    minibatches: int = 1
    temperature: float = 0.7
    kl_coef: float = 0.05
    gamma: float = 1.0
    lam: float = 0.95
    clip_range: float = 0.2
    value_clip_range: float = 0.2
    vf_coef: float = 0.1
    lr: float = 3e-6

    def as_dict(self) -> dict:
        return asdict(self)


CONFIGS: dict[str, BenchConfig] = {
    "tiny": BenchConfig("tiny", batch=4, response=4, prompt=4, n_layer=1, width=32, heads=4),
    "tiny_llama": BenchConfig("tiny_llama", batch=4, response=4, prompt=4, n_layer=1, width=32, heads=4,
                              arch="llama", kv_heads=2, intermediate=88),
    "small": BenchConfig("small", batch=16, response=32, prompt=16, n_layer=2, width=128, heads=4),
    "medium": BenchConfig("medium", batch=64, response=64, prompt=32, n_layer=4, width=256, heads=4),
    # `medium`'s B/T/P and body FLOPs on the architecture most users train: RMSNorm, SwiGLU (3 d I with
    # I = 688 ~ 8d/3: the MLP of GPT-2's 8 d^2), RoPE, GQA with 2 key/value heads for 4 query heads
    "llama_medium": BenchConfig("llama_medium", batch=64, response=64, prompt=32, n_layer=4, width=256, heads=4,
                                arch="llama", kv_heads=2, intermediate=688),
    # GPU sizes (benchmarks/gpu_check.sh): GPT-2 125M-like and 350M-like bodies, B 64, response 128;
    # a 32k vocabulary as real models have
    "gpu_125m": BenchConfig("gpu_125m", batch=64, response=128, prompt=64, n_layer=12, width=768, heads=12,
                            vocab=32768),
    "gpu_350m": BenchConfig("gpu_350m", batch=64, response=128, prompt=64, n_layer=24, width=1024, heads=16,
                            vocab=32768),
}


def rss_mib() -> float:
    """This process's resident memory now (Linux /proc/self/statm), MiB."""
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def max_rss_mib() -> float:
    """This process's peak resident memory since it started (Linux VmHWM), MiB. Not ``ru_maxrss``:
    that one carries the parent's peak over fork + exec, so a spawned child would report the parent's."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class PeakMemory:
    """Peak memory over a ``with`` block: resident memory sampled every 5 ms by a thread (the
    process-wide ``ru_maxrss`` cannot tell two frameworks run one after the other apart) and, on
    CUDA, ``torch.cuda.max_memory_allocated``. ``figures()``: rss_start/rss_peak/rss_added MiB and
    cuda_max_allocated MiB (None on the CPU)."""

    def __init__(self, device: str = "cpu", every_s: float = 0.005) -> None:
        self.device, self.every_s = device, every_s
        self.start = self.peak = 0.0
        self.cuda_peak: float | None = None

    def __enter__(self) -> "PeakMemory":
        import threading

        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self.start = self.peak = rss_mib()
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.wait(self.every_s):
                self.peak = max(self.peak, rss_mib())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())
        if self.device == "cuda":
            torch.cuda.synchronize()
            self.cuda_peak = torch.cuda.max_memory_allocated() / 2**20

    def figures(self) -> dict[str, float | None]:
        return {"rss_start_mib": self.start, "rss_peak_mib": self.peak, "rss_added_mib": self.peak - self.start,
                "cuda_max_allocated_mib": self.cuda_peak}


def make_tokenizer(cfg: BenchConfig):
    """A word tokenizer with exactly ``vocab`` ids: <pad> 0, <eos> 1, <unk> 2, then words w0, w1, ..."""
    tok = word_tokenizer([f"w{i}" for i in range(cfg.vocab - 3)])
    assert len(tok) == cfg.vocab, (len(tok), cfg.vocab)
    return tok


def special_ids(tokenizer) -> list[int]:
    return sorted({tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id})


def make_prompts(cfg: BenchConfig, n: int, seed: int = 0) -> list[str]:
    """``n`` prompts of exactly ``cfg.prompt`` words (= tokens), so no prompt is padded."""
    rng = random.Random(seed)
    return [" ".join(f"w{rng.randrange(cfg.vocab - 3)}" for _ in range(cfg.prompt)) for _ in range(n)]


def model_config(cfg: BenchConfig, tokenizer, num_labels: int = 1) -> PretrainedConfig:
    """The HF config of every model of the benchmark: dropout off, the embedding tied to the LM head."""
    positions = max(128, cfg.prompt + cfg.response + 1)
    specials = dict(bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                    pad_token_id=tokenizer.pad_token_id, num_labels=num_labels)
    if cfg.arch == "gpt2":
        return GPT2Config(
            vocab_size=cfg.vocab, n_positions=positions, n_embd=cfg.width, n_layer=cfg.n_layer, n_head=cfg.heads,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **specials)
    if cfg.arch == "llama":
        return LlamaConfig(
            vocab_size=cfg.vocab, max_position_embeddings=positions, hidden_size=cfg.width,
            num_hidden_layers=cfg.n_layer, num_attention_heads=cfg.heads,
            num_key_value_heads=cfg.kv_heads or cfg.heads, intermediate_size=cfg.intermediate or 4 * cfg.width,
            attention_dropout=0.0, tie_word_embeddings=True, **specials)
    raise ValueError(f"BenchConfig.arch: expected gpt2 or llama, got {cfg.arch!r}")


def no_specials_head(embedding: nn.Parameter, suppressed: list[int]) -> nn.Linear:
    """The LM head (a bias-free ``nn.Linear`` tied to the token embedding) given a frozen output
    bias: -1e4 on the special tokens, 0 elsewhere (``F.linear`` adds it in the same kernel). A plain
    ``nn.Linear``, so each framework treats it exactly as it treats the model's own head."""
    head = nn.Linear(embedding.shape[1], embedding.shape[0], bias=True)
    head.weight = embedding  # tied, as in GPT-2
    bias = torch.zeros(embedding.shape[0])
    bias[suppressed] = SPECIAL_LOGIT
    head.bias = nn.Parameter(bias, requires_grad=False)  # a constant: no gradient, no optimizer update
    return head


@dataclass
class Weights:
    """The initial weights every framework copies: a policy and two separate backbones + heads."""

    policy: nn.Module           # AutoModelForCausalLM
    value_backbone: nn.Module   # AutoModel (the body without a head)
    value_head: nn.Linear
    reward_backbone: nn.Module
    reward_head: nn.Linear


def make_weights(cfg: BenchConfig, tokenizer, seed: int = 0) -> Weights:
    config = model_config(cfg, tokenizer)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        policy = AutoModelForCausalLM.from_config(config)
        value_backbone, reward_backbone = AutoModel.from_config(config), AutoModel.from_config(config)  # each its own
        value_head, reward_head = nn.Linear(cfg.width, 1), nn.Linear(cfg.width, 1)
        nn.init.normal_(value_head.weight, std=0.02)
        nn.init.normal_(reward_head.weight, std=1 / (cfg.width + 1) ** 0.5)
        nn.init.zeros_(value_head.bias)
        nn.init.zeros_(reward_head.bias)
    return Weights(policy, value_backbone, value_head, reward_backbone, reward_head)


def policy_copy(weights: Weights, tokenizer) -> nn.Module:
    """A fresh copy of the initial policy with the no-specials head, in eval mode (dropout is 0 anyway)."""
    model = copy.deepcopy(weights.policy)
    model.lm_head = no_specials_head(model.get_input_embeddings().weight, special_ids(tokenizer))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval()


def tune_malloc() -> bool:
    """glibc: keep freed memory for reuse (mmap threshold 32 MiB, its maximum; no trimming), so the
    many short-lived activation-sized tensors of a step do not each map fresh pages and take a page
    fault per 4 KiB. The same as ``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=2147483647``
    in the environment; process-wide, so rlhfkit and TRL both run with it. False where not glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 2 ** 31 - 1)
                    and libc.mallopt(m_top_pad, 64 << 20))
    except (OSError, AttributeError):
        return False


def set_threads(n: int | None) -> int:
    if n:
        torch.set_num_threads(n)
    return torch.get_num_threads()
