"""The RM stage on a Hugging Face model: dropout as configured is active in every training step
(``from_pretrained`` returns a model in eval mode) and off in validation. (A LoRA reward model:
tests/stages/test_arch_matrix.py.)"""

from __future__ import annotations

import torch
from _hf_models import save_tiny_hf
from _helpers import run_stage_in_process, write_jsonl

from rlhfkit.stages.rm.module import RewardModelModule

SMALL = ["stage.max_epochs=2", "stage.limit_train_batches=2", "stage.max_length=48", "stage.batch_size=4",
         "stage.valid_fraction=0.25", "stage.normalisation.mode=none"]


def _prefs(path):
    rows = [{"prompt": f"say {w} :", "chosen": " hello world", "rejected": " the cat", "user_id": f"u{i % 8}"}
            for i, w in enumerate("a b c d e f g h i j k l m n o p".split())]
    return write_jsonl(path, rows)


def test_dropout_is_on_in_training_steps_and_off_in_validation(tmp_path, monkeypatch):
    seen: dict[str, list] = {"train": [], "valid": []}
    train_step, valid_step = RewardModelModule.training_step, RewardModelModule.validation_step

    def dropout(model):
        return [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout) and m.training and m.p > 0]

    def probe_train(self, batch, batch_idx):
        with torch.no_grad():
            a, b = self(batch), self(batch)
        seen["train"].append((self.model.training, dropout(self.model), not torch.equal(a, b)))
        return train_step(self, batch, batch_idx)

    def probe_valid(self, batch, batch_idx):
        seen["valid"].append((self.model.training, dropout(self.model)))
        return valid_step(self, batch, batch_idx)

    monkeypatch.setattr(RewardModelModule, "training_step", probe_train)
    monkeypatch.setattr(RewardModelModule, "validation_step", probe_valid)
    model = save_tiny_hf(tmp_path / "gpt2", "gpt2")
    run_stage_in_process(tmp_path / "run", "stage=rm", "model=hf", f"model.path={model}", "model.dropout=0.2",
                         f"data.preference.train.path={_prefs(tmp_path / 'prefs.jsonl')}", *SMALL)
    assert len(seen["train"]) == 4  # the second epoch's steps come after a validation
    for training, probabilities, differ in seen["train"]:
        assert training and set(probabilities) == {0.2} and differ
    assert seen["valid"] and all(not training and not p for training, p in seen["valid"])
