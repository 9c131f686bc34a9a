"""The whole recipe on every architecture users bring: SFT on ``messages`` -> RM on conversational
pairs -> PPO against that RM, and PPO with LoRA -> exports that transformers loads as they are.

Each model is the fixture's tiny random one (tests/_hf_models.py: 2 layers, width 32, a BPE
tokenizer with BOS ``<s>`` (id 1), EOS ``</s>``, pad and a ChatML template), saved locally;
every stage runs in this process on ``debug=fast``: seconds per architecture.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _hf_models import ARCHITECTURES, CHATML, save_tiny_hf
from _helpers import run_stage_in_process, write_jsonl
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from rlhfkit.models import ScalarHeadModel
from rlhfkit.models.encoding import encode_pairs
from rlhfkit.models.lora import has_adapter_layers
from rlhfkit.stages.examples_preview import PREVIEW_FILE

BOS = 1
ARCHS = sorted(ARCHITECTURES)  # gpt2, gpt_neox, llama, mistral, opt, phi, qwen2
WORDS = "hello world the cat and dog please say tell me a story thanks for help".split()
# the stages' sizes beyond debug=fast (1 epoch, 2 batches, 64 tokens, PPO 2 iterations of 8 prompts)
PPO = ["stage.total_steps=1", "stage.ppo_epochs=1", "stage.max_new_tokens=6", "stage.max_prompt_length=48",
       "+trainer.enable_model_summary=false"]


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def _phrase(i: int, n: int) -> str:
    return " ".join(WORDS[(i * 3 + j) % len(WORDS)] for j in range(n))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    sft = [{"messages": [{"role": "system", "content": "be brief"}, user(f"q{i} {_phrase(i, 3)}"),
                         assistant(_phrase(i + 1, 4))], "user_id": f"u{i % 6}"} for i in range(24)]
    prefs = [{"prompt": [user(f"q{i} {_phrase(i, 3)}")], "chosen": [assistant("hello world " + _phrase(i, 2))],
              "rejected": [assistant(_phrase(i + 2, 3))], "user_id": f"u{i % 6}"} for i in range(24)]
    prompts = [{"prompt": [user(f"q{i} {_phrase(i, 3)}")]} for i in range(16)]
    return {"sft": write_jsonl(root / "sft.jsonl", sft), "prefs": write_jsonl(root / "prefs.jsonl", prefs),
            "prompts": write_jsonl(root / "prompts.jsonl", prompts)}


def preview(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / PREVIEW_FILE).read_text().splitlines()]


def hf_reward(path: Path, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The export's score as a transformers user reads it: the logits, plus the constant an RMSNorm
    model's bias-free score layer cannot hold (config.rlhfkit.add_to_logits, 0 otherwise)."""
    model, info = AutoModelForSequenceClassification.from_pretrained(path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    extra = float((getattr(model.config, "rlhfkit", None) or {}).get("add_to_logits", 0.0))
    with torch.no_grad():
        return model.eval()(input_ids=ids, attention_mask=mask).logits.squeeze(-1) + extra


@pytest.mark.parametrize("arch", ARCHS)
def test_sft_rm_ppo_and_lora_on_each_architecture(arch, tmp_path, data):
    base = save_tiny_hf(tmp_path / "base", arch)
    hf = ["model=hf", "data=files", "debug=fast"]

    sft = tmp_path / "sft"
    run_stage_in_process(sft, "stage=sft", *hf, f"model.path={base}", f"data.sft.train.path={data['sft']}")
    shown = preview(sft)[0]
    assert shown["text"].startswith("<s><|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nq")
    assert shown["ids"].count(BOS) == 1 and shown["trained"].endswith("<|im_end|>\n</s>")
    assert "<|im_start|>" not in shown["trained"]  # the assistant turn only

    rm = tmp_path / "rm"
    run_stage_in_process(rm, "stage=rm", *hf, f"model.path={sft / 'final'}", f"data.preference.train.path={data['prefs']}",
                         f"data.sft.train.path={data['sft']}", "stage.valid_fraction=0.25")
    assert preview(rm)[0]["text"].startswith("<s><|im_start|>user\nq")
    tokenizer = AutoTokenizer.from_pretrained(rm / "final")
    assert tokenizer.chat_template == CHATML
    batch = encode_pairs(tokenizer, ["<|im_start|>user\nq1<|im_end|>\n<|im_start|>assistant\n"] * 3,
                         ["hello world", "the cat", "thanks for the help please"], 32)
    with torch.no_grad():
        ours = ScalarHeadModel.from_pretrained(rm / "final").eval().score(batch.input_ids, batch.attention_mask)
    assert torch.allclose(hf_reward(rm / "final", batch.input_ids, batch.attention_mask), ours, atol=1e-5)

    against_rm = [*hf, f"model.path={sft / 'final'}", f"data.prompts.train.path={data['prompts']}",
                  "reward=reward_model", f"reward.path={rm / 'final'}", *PPO]
    ppo = tmp_path / "ppo"
    metrics = run_stage_in_process(ppo, "stage=ppo", *against_rm)
    assert "objective/score_last" in metrics
    assert preview(ppo)[0]["text"].endswith("<|im_start|>assistant\n")
    assert AutoModelForCausalLM.from_pretrained(ppo / "final") is not None
    assert AutoTokenizer.from_pretrained(ppo / "final").chat_template == CHATML

    lora = tmp_path / "ppo_lora"
    run_stage_in_process(lora, "stage=ppo", *against_rm, "model.lora.r=4", "model.lora.alpha=8")
    assert (lora / "adapter" / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(lora / "final").eval()  # no peft needed
    assert not has_adapter_layers(merged)
    prompt = AutoTokenizer.from_pretrained(lora / "final").apply_chat_template(
        [user("say hello")], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = merged.generate(**prompt, max_new_tokens=3, do_sample=False, pad_token_id=0)
    assert out.shape[1] > prompt["input_ids"].shape[1]
    critic = ScalarHeadModel.from_pretrained(lora / "final_value")  # the LoRA critic, saved merged
    assert critic.role == "value" and not has_adapter_layers(critic)


def test_a_lora_reward_model_exports_merged_and_scores_as_it_trained(tmp_path, data):
    base = save_tiny_hf(tmp_path / "base", "llama")
    rm = tmp_path / "rm"
    run_stage_in_process(rm, "stage=rm", "model=hf", "data=files", "debug=fast", f"model.path={base}",
                         f"data.preference.train.path={data['prefs']}", f"data.sft.train.path={data['sft']}",
                         "stage.valid_fraction=0.25", "model.lora.r=4", "model.lora.alpha=8")
    initial = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1).model.state_dict()
    trained = AutoModelForSequenceClassification.from_pretrained(rm / "final").model.state_dict()
    changed = [k for k in initial if not torch.equal(initial[k], trained[k])]
    assert changed and all("proj" in k for k in changed)  # the adapted linears, merged; norms and embeddings as they were
    tokenizer = AutoTokenizer.from_pretrained(rm / "final")
    batch = encode_pairs(tokenizer, ["q1"] * 2, ["hello world", "the cat"], 16)
    with torch.no_grad():
        ours = ScalarHeadModel.from_pretrained(rm / "final").eval().score(batch.input_ids, batch.attention_mask)
    assert torch.allclose(hf_reward(rm / "final", batch.input_ids, batch.attention_mask), ours, atol=1e-5)


def test_a_model_the_fast_sampler_does_not_support_runs_the_recipe_with_generate(tmp_path, data, caplog):
    base = save_tiny_hf(tmp_path / "base", "mamba")
    hf = ["model=hf", "data=files", "debug=fast"]
    sft = tmp_path / "sft"
    run_stage_in_process(sft, "stage=sft", *hf, f"model.path={base}", f"data.sft.train.path={data['sft']}")
    ppo = tmp_path / "ppo"
    with caplog.at_level("INFO", logger="rlhfkit.models.generation"):
        run_stage_in_process(ppo, "stage=ppo", *hf, f"model.path={sft / 'final'}",
                             f"data.prompts.train.path={data['prompts']}", "reward=keyword", "reward.wanted=[hello]",
                             "reward.banned=[]", *PPO)
    assert "sampler: transformers generate for MambaForCausalLM" in caplog.text
    assert AutoModelForCausalLM.from_pretrained(ppo / "final") is not None


def test_a_template_that_ends_the_turn_with_eos_gets_no_second_one(tmp_path, data):
    """Qwen's instruct tokenizers: EOS is ``<|im_end|>``, which the template follows with a newline;
    the trained turn ends at that EOS, once (what sampling stops at and the RM scores at)."""
    base = save_tiny_hf(tmp_path / "base", "qwen2", eos_token="<|im_end|>")
    sft = tmp_path / "sft"
    run_stage_in_process(sft, "stage=sft", "model=hf", "data=files", "debug=fast", f"model.path={base}",
                         f"data.sft.train.path={data['sft']}")
    for row in preview(sft):
        assert row["text"].endswith("<|im_end|>") and not row["text"].endswith("<|im_end|><|im_end|>")
        assert row["trained"].endswith("<|im_end|>") and row["trained"].count("<|im_end|>") == 1
        assert "</s>" not in row["text"]
