"""Matmul FLOPs of each phase of one PPO step (multiply-add = 2 FLOPs).

Only matrix multiplications count (norms, GELU/SiLU, RoPE, softmax, the optimizer are not FLOPs here):

* a GPT-2 layer has 12 d^2 weights in matmuls (qkv 3d^2, attention out d^2, MLP 4d^2 + 4d^2); a
  Llama layer 2 d^2 (q, o) + 2 d^2 kv/h (k, v with kv of h heads) + 3 d I (SwiGLU gate, up, down);
  the LM head V*d (tied to the embedding, still a matmul); a scalar head d; the embeddings none.
  Weight matmuls cost 2 * weights FLOPs per token.
* attention: Q.K^T and A.V, 2 * 2 * d FLOPs per (query, key) pair and layer, counted CAUSALLY
  (the key positions a query may see: S(S+1)/2 pairs for a sequence of S, P+t for a new token
  decoded against a context of P+t with a KV cache), i.e. the useful work, not a dense S^2.
* backward = 2 x forward (gradients of activations and of weights).
* generation with a KV cache: the prefill of the P prompt tokens (the LM head only at the last
  position, the only logits sampling needs), then T-1 single-token steps, step t against a
  context of P+t tokens (the last sampled token needs no forward).
* the LM head of a scoring pass is counted on the T positions whose logits are used.

These are the FLOPs of the work the config asks for; a phase that does more (say, the LM head on
every position) is charged only this, so ``fraction of peak`` is the useful fraction.
"""

from __future__ import annotations

from common import BenchConfig


def body_weights(cfg: BenchConfig) -> int:
    """Weights in the matmuls of the transformer body (no embeddings, no head)."""
    d = cfg.width
    if cfg.arch == "llama":
        kv = (cfg.kv_heads or cfg.heads) / cfg.heads
        per_layer = 2 * d * d + 2 * d * round(d * kv) + 3 * d * (cfg.intermediate or 4 * d)
        return cfg.n_layer * per_layer
    return 12 * cfg.n_layer * d ** 2


def attention_flops(cfg: BenchConfig, seq: int) -> float:
    """Causal attention matmuls of one sequence of ``seq`` tokens (QK^T and AV, all layers)."""
    return 2 * 2 * cfg.width * cfg.n_layer * seq * (seq + 1) / 2


def body_forward(cfg: BenchConfig, n_seq: int, seq: int) -> float:
    return n_seq * (2 * body_weights(cfg) * seq + attention_flops(cfg, seq))


def lm_head(cfg: BenchConfig, n_tokens: int) -> float:
    return 2 * cfg.vocab * cfg.width * n_tokens


def scalar_head(cfg: BenchConfig, n_tokens: int) -> float:
    return 2 * cfg.width * n_tokens


def phase_flops(cfg: BenchConfig, reward_seq_extra: int = 1) -> dict[str, float]:
    """FLOPs per phase of one PPO step. ``reward_seq_extra``: tokens the reward model reads beyond
    P+T (rlhfkit's reward-model plugin appends EOS to the completion: 1; TRL: 0)."""
    B, P, T = cfg.batch, cfg.prompt, cfg.response
    S = P + T
    gen = body_forward(cfg, B, P) + lm_head(cfg, B)  # prefill, logits of the last prompt position
    for t in range(1, T):  # token t is decoded against P + t cached/own positions
        ctx = P + t
        gen += B * (2 * body_weights(cfg) + 2 * 2 * cfg.width * cfg.n_layer * ctx) + lm_head(cfg, B)
    policy_fwd = body_forward(cfg, B, S) + lm_head(cfg, B * T)
    value_fwd = body_forward(cfg, B, S) + scalar_head(cfg, B * S)
    reward_fwd = body_forward(cfg, B, S + reward_seq_extra) + scalar_head(cfg, B * (S + reward_seq_extra))
    epochs = cfg.ppo_epochs * 3 * (policy_fwd + value_fwd)  # forward + backward (2x) of policy and critic
    return {
        "generate": gen,
        "policy_forward": policy_fwd,
        "ref_forward": policy_fwd,
        "value_forward": value_fwd,
        "reward": reward_fwd,
        "advantages": 0.0,
        "ppo_epochs": epochs,
    }
