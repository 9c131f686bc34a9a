"""Any HF causal LM trains in its own chat format: conversational data is rendered with the
tokenizer's chat template in SFT, RM and PPO (``data.chat_template``), tokenized with exactly one
BOS, shown in each run's ``examples_preview.jsonl``, and the exported tokenizer carries the template.

The model is the fixture's 2-layer Llama with a BPE tokenizer that adds BOS (id 1, "<s>") and has
a ChatML template (tests/_hf_models.py).
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
from _hf_models import CHATML, bpe_tokenizer, save_tiny_hf
from _helpers import run_stage_in_process, write_jsonl
from omegaconf import OmegaConf
from transformers import AutoTokenizer

from rlhfkit import hookimpl
from rlhfkit.data.chat import HH_CHAT_TEMPLATE
from rlhfkit.errors import ConfigError
from rlhfkit.plugins import PluginManager
from rlhfkit.stages.data_sources import chat_template_choice, load_split, takes_tokenizer
from rlhfkit.stages.examples_preview import PREVIEW_FILE

BOS = 1


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    return save_tiny_hf(tmp_path_factory.mktemp("models") / "llama", "llama")


def preview(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / PREVIEW_FILE).read_text().splitlines()]


def test_sft_on_messages_trains_in_the_models_chat_format(tmp_path, llama):
    rows = [{"messages": [{"role": "system", "content": "be brief"}, user(f"say hello {i}"), assistant("hello world")],
             "user_id": f"u{i}"} for i in range(20)]
    data = write_jsonl(tmp_path / "sft.jsonl", rows)
    run = tmp_path / "run"
    metrics = run_stage_in_process(run, "stage=sft", "model=hf", f"model.path={llama}", f"data.sft.train.path={data}",
                                   "debug=fast")
    shown = preview(run)
    assert len(shown) == 5 and shown[0]["stage"] == "sft" and shown[0]["origin"] == f"{data}:1"
    first = shown[0]
    assert first["text"] == ("<s><|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nsay hello 0<|im_end|>\n"
                             "<|im_start|>assistant\nhello world<|im_end|>\n</s>")
    for row in shown:
        assert row["ids"][0] == BOS and row["ids"].count(BOS) == 1 and row["text"].count("<s>") == 1  # exactly one BOS
        assert row["trained"] == "hello world<|im_end|>\n</s>"  # the assistant turn only (mask_prompt)
        assert sum(row["trained_mask"]) == row["n_trained"] and len(row["ids"]) == row["n_tokens"]
    assert metrics["data/sft/train/notes/rendered_chat_template"] == 20
    assert AutoTokenizer.from_pretrained(run / "final").chat_template == CHATML


def test_rm_on_implicit_prompt_conversations_uses_the_template(tmp_path, llama):
    rows = [{"chosen": [user(f"greet {i}"), assistant("hello world")],
             "rejected": [user(f"greet {i}"), assistant("the cat")], "user_id": f"u{i}"} for i in range(16)]
    data = write_jsonl(tmp_path / "prefs.jsonl", rows)
    run = tmp_path / "run"
    run_stage_in_process(run, "stage=rm", "model=hf", f"model.path={llama}", f"data.preference.train.path={data}",
                         "debug=fast", "stage.valid_fraction=0.25")
    shown = preview(run)
    assert len(shown) == 10 and [(r["index"], r["completion"], r["rank"]) for r in shown[:2]] == [(0, 0, 0), (0, 1, 1)]
    assert shown[0]["text"] == "<s><|im_start|>user\ngreet 0<|im_end|>\n<|im_start|>assistant\nhello world<|im_end|>\n</s>"
    assert shown[1]["trained"] == "the cat<|im_end|>\n</s>"  # the scored completion
    assert all(r["ids"].count(BOS) == 1 for r in shown)
    assert AutoTokenizer.from_pretrained(run / "final").chat_template == CHATML


def test_ppo_prompts_get_the_generation_prompt(tmp_path, llama):
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": [user(f"say hello {i}")]} for i in range(8)])
    run = tmp_path / "run"
    run_stage_in_process(run, "stage=ppo", "model=hf", f"model.path={llama}", f"data.prompts.train.path={prompts}",
                         "debug=fast", "reward=keyword", "reward.wanted=[hello]", "reward.banned=[]",
                         "stage.total_steps=1", "+trainer.enable_model_summary=false")
    shown = preview(run)
    assert len(shown) == 5 and shown[0]["stage"] == "ppo"
    assert shown[0]["text"] == "<s><|im_start|>user\nsay hello 0<|im_end|>\n<|im_start|>assistant\n"
    assert all(r["ids"].count(BOS) == 1 and r["trained"] == "" for r in shown)
    assert AutoTokenizer.from_pretrained(run / "final").chat_template == CHATML


# --------------------------------------------------------------------------- data.chat_template


def cfg_for(path: Path, chat_template=None):
    data = {"sft": {"train": {"name": "files", "path": str(path)}}}
    if chat_template is not None:
        data["chat_template"] = chat_template
    return OmegaConf.create({"data": data})


@pytest.fixture
def messages_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "sft.jsonl", [{"messages": [user("hi"), assistant("hello")]}])


def test_auto_uses_the_tokenizers_template_or_the_fallback(messages_file):
    tok = bpe_tokenizer()
    (ex,) = load_split(cfg_for(messages_file), PluginManager(), "data.sft.train", "sft", tokenizer=tok)
    assert ex.prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n" and tok.chat_template == CHATML
    tok.chat_template = None  # a base model without a template: the fallback, which it then carries
    (ex,) = load_split(cfg_for(messages_file, "auto"), PluginManager(), "data.sft.train", "sft", tokenizer=tok)
    assert (ex.prompt, ex.completion) == ("\n\nHuman: hi\n\nAssistant:", " hello")
    assert tok.chat_template == HH_CHAT_TEMPLATE


def test_none_renders_the_fallback_and_the_tokenizer_carries_it(messages_file, tmp_path):
    tok = bpe_tokenizer()
    (ex,) = load_split(cfg_for(messages_file, "none"), PluginManager(), "data.sft.train", "sft", tokenizer=tok)
    assert (ex.prompt, ex.completion) == ("\n\nHuman: hi\n\nAssistant:", " hello")
    assert tok.chat_template == HH_CHAT_TEMPLATE  # what final/ will carry: the format trained on
    tok.save_pretrained(tmp_path / "export")
    again = AutoTokenizer.from_pretrained(tmp_path / "export")
    assert again.apply_chat_template([user("hi"), assistant("hello")], tokenize=False) == ex.prompt + ex.completion


def test_a_template_file_is_used_and_set_on_the_tokenizer(messages_file, tmp_path):
    template = tmp_path / "tmpl.jinja"
    template.write_text("{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
                        "{% if add_generation_prompt %}[assistant]{% endif %}")
    tok = bpe_tokenizer()
    (ex,) = load_split(cfg_for(messages_file, str(template)), PluginManager(), "data.sft.train", "sft", tokenizer=tok)
    assert (ex.prompt, ex.completion) == ("<s>[user] hi\n[assistant]", " hello\n")  # the template writes BOS itself
    assert tok.chat_template == template.read_text()
    from rlhfkit.models.encoding import encode_pairs

    ids = encode_pairs(tok, [ex.prompt], [ex.completion], 64).input_ids[0].tolist()
    assert ids[0] == BOS and ids.count(BOS) == 1  # no second BOS


@pytest.mark.parametrize(("value", "message"), [
    ("/no/such/template.jinja", "config key 'data.chat_template': no chat template file at '/no/such/template.jinja'"),
    ("", "config key 'data.chat_template': '' is not accepted; accepted: auto, none, or the path"),
])
def test_bad_chat_template_is_a_config_error(value, message):
    with pytest.raises(ConfigError) as info:
        chat_template_choice(OmegaConf.create({"data": {"chat_template": value}}))
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_missing_template_file_stops_the_stage_before_the_model_loads(tmp_path, messages_file):
    with pytest.raises(ConfigError, match="config key 'data.chat_template': no chat template file"):
        run_stage_in_process(tmp_path / "run", "stage=sft", "model=hf", f"model.path={tmp_path / 'no-model'}",
                             f"data.sft.train.path={messages_file}", f"data.chat_template={tmp_path / 'none.jinja'}")


def test_only_plugins_that_take_a_tokenizer_get_one():
    got = {}

    def with_tokenizer(kind, tokenizer=None):
        got["with"] = tokenizer
        return ["x"]

    def forwards_kwargs(kind, **kwargs):  # e.g. hands its options on to datasets.load_dataset
        got["kwargs"] = kwargs
        return ["x"]

    @hookimpl
    def rlhfkit_datasets():
        return {"with": with_tokenizer, "kwargs": forwards_kwargs}

    assert takes_tokenizer(with_tokenizer) and not takes_tokenizer(forwards_kwargs)
    manager = PluginManager(load_entrypoints=False)
    manager.register(types.SimpleNamespace(rlhfkit_datasets=rlhfkit_datasets), name="third_party")
    cfg = OmegaConf.create({"data": {"a": {"train": {"name": "with"}}, "b": {"train": {"name": "kwargs"}}}})
    tok = bpe_tokenizer()
    load_split(cfg, manager, "data.a.train", "sft", tokenizer=tok)
    load_split(cfg, manager, "data.b.train", "sft", tokenizer=tok)
    assert got == {"with": tok, "kwargs": {}}
