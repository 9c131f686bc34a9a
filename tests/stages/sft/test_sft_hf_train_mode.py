"""SFT on a Hugging Face model: dropout as configured is active in every training step (item 1;
``from_pretrained`` returns a model in eval mode) and off in validation; ``debug=fast`` runs with
``model=hf``; a LoRA run exports the merged model to final/ and the adapter alone to adapter/."""

from __future__ import annotations

import torch
from _hf_models import save_tiny_hf
from _helpers import run_stage_in_process, write_sft_file
from transformers import AutoModelForCausalLM

from rlhfkit.stages.sft.module import SFTModule

SMALL = ["stage.max_epochs=2", "stage.limit_train_batches=2", "stage.max_length=48", "stage.batch_size=4",
         "stage.n_samples=1", "stage.max_new_tokens=4", "stage.valid_fraction=0.25"]


def active_dropout(model: torch.nn.Module) -> list[float]:
    return [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout) and m.training and m.p > 0]


def test_dropout_is_on_in_training_steps_and_off_in_validation(tmp_path, monkeypatch):
    seen: dict[str, list] = {"train": [], "valid": []}
    train_step, valid_step = SFTModule.training_step, SFTModule.validation_step

    def probe_train(self, batch, batch_idx):
        with torch.no_grad():  # two forwards of one batch differ: dropout is really applied
            a, b = (self(batch["input_ids"], batch["attention_mask"]) for _ in range(2))
        seen["train"].append((self.model.training, active_dropout(self.model), not torch.equal(a, b)))
        return train_step(self, batch, batch_idx)

    def probe_valid(self, batch, batch_idx):
        seen["valid"].append((self.model.training, active_dropout(self.model)))
        return valid_step(self, batch, batch_idx)

    monkeypatch.setattr(SFTModule, "training_step", probe_train)
    monkeypatch.setattr(SFTModule, "validation_step", probe_valid)
    model = save_tiny_hf(tmp_path / "gpt2", "gpt2")
    data = write_sft_file(tmp_path / "sft.jsonl", 32)
    run_stage_in_process(tmp_path / "run", "stage=sft", "model=hf", f"model.path={model}", "model.dropout=0.2",
                         f"data.sft.train.path={data}", *SMALL)
    assert len(seen["train"]) == 4  # 2 epochs: the second after a validation (and the sanity check before the first)
    for training, probabilities, differ in seen["train"]:
        assert training and probabilities and set(probabilities) == {0.2} and differ
    assert seen["valid"] and all(not training and not p for training, p in seen["valid"])


def test_debug_fast_with_an_hf_model_and_a_lora_export(tmp_path):
    from peft import PeftModel

    model = save_tiny_hf(tmp_path / "llama", "llama")
    data = write_sft_file(tmp_path / "sft.jsonl", 24)
    run = tmp_path / "run"
    run_stage_in_process(run, "stage=sft", "model=hf", f"model.path={model}", "debug=fast", f"data.sft.train.path={data}",
                         "model.lora.r=4", "model.attn_implementation=sdpa", "model.gradient_checkpointing=true",
                         "stage.lr=1e-2")
    merged = AutoModelForCausalLM.from_pretrained(run / "final").eval()
    base = AutoModelForCausalLM.from_pretrained(model).eval()
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model), run / "adapter").eval()
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        m, b, a = (x(input_ids=ids).logits for x in (merged, base, adapted))
    assert torch.allclose(m, a, atol=1e-5) and not torch.allclose(m, b, atol=1e-4)  # trained, merged = adapter
    assert merged.config.use_cache is True


def test_debug_fast_does_not_add_tiny_keys_to_an_hf_model(tmp_path):
    import yaml

    model = save_tiny_hf(tmp_path / "gpt2", "gpt2")
    data = write_sft_file(tmp_path / "sft.jsonl", 16)
    run = tmp_path / "run"
    run_stage_in_process(run, "stage=sft", "model=hf", f"model.path={model}", "debug=fast", f"data.sft.train.path={data}",
                         "stage.limit_train_batches=1")
    resolved = yaml.safe_load((run / "resolved_config.yaml").read_text())
    assert "size" not in resolved["model"] and "max_positions" not in resolved["model"]
    assert resolved["stage"]["max_length"] == 64 and resolved["stage"]["max_epochs"] == 1
