"""Tiny random Hugging Face models of the architectures users bring, saved locally with a locally
trained BPE tokenizer that has BOS, EOS, pad and a ChatML chat template (nothing downloaded).

    path = save_tiny_hf(tmp_path / "llama", "llama")   # config -> model -> save_pretrained
    rlhfkit train stage=sft model=hf model.path=<path> ...

Each model has a 2-layer body of width 32: seconds per stage on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
          "+ '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>"]
CORPUS = ["sort the letters a b c d", "please say hello to the world", "the cat and the dog",
          "tell me a story about you", "thanks for the help", "what is two plus two", "the answer is four",
          "hello world", "please thanks hello world the a cat dog say tell me you"] * 20

WIDTH, LAYERS, HEADS = 32, 2, 4
# model_type -> the config fields of a 2-layer, width-32 model of that architecture
ARCHITECTURES: dict[str, dict] = {
    "gpt2": {"n_embd": WIDTH, "n_layer": LAYERS, "n_head": HEADS, "n_positions": 256},
    "llama": {"hidden_size": WIDTH, "intermediate_size": 64, "num_hidden_layers": LAYERS,
              "num_attention_heads": HEADS, "num_key_value_heads": 2, "max_position_embeddings": 256},
    "qwen2": {"hidden_size": WIDTH, "intermediate_size": 64, "num_hidden_layers": LAYERS,
              "num_attention_heads": HEADS, "num_key_value_heads": 2, "max_position_embeddings": 256},
    "mistral": {"hidden_size": WIDTH, "intermediate_size": 64, "num_hidden_layers": LAYERS,
                "num_attention_heads": HEADS, "num_key_value_heads": 2, "max_position_embeddings": 256,
                "sliding_window": None},
    "gpt_neox": {"hidden_size": WIDTH, "intermediate_size": 64, "num_hidden_layers": LAYERS,
                 "num_attention_heads": HEADS, "max_position_embeddings": 256},
    "opt": {"hidden_size": WIDTH, "ffn_dim": 64, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
            "word_embed_proj_dim": WIDTH, "max_position_embeddings": 256},
    "phi": {"hidden_size": WIDTH, "intermediate_size": 64, "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS, "max_position_embeddings": 256},
}
MAMBA = {"hidden_size": WIDTH, "state_size": 4, "num_hidden_layers": LAYERS}  # no attention cache


def bpe_tokenizer(vocab_size: int = 300, adds_bos: bool = True, eos_token: str = "</s>") -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on :data:`CORPUS`, with BOS/EOS/pad/unk and the ChatML template;
    ``adds_bos``: like Llama's, ``tokenizer(text)`` starts with BOS (``add_special_tokens=True``);
    ``eos_token="<|im_end|>"``: like Qwen's instruct tokenizers, the template's end-of-turn is EOS."""
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if adds_bos:
        bos = core.token_to_id("<s>")
        core.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                            special_tokens=[("<s>", bos)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token=eos_token, pad_token="<pad>",
                                        unk_token="<unk>", additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    tokenizer.chat_template = CHATML
    return tokenizer


def save_tiny_hf(path: Path, model_type: str, seed: int = 0, adds_bos: bool = True, eos_token: str = "</s>") -> Path:
    """A random ``model_type`` causal LM and :func:`bpe_tokenizer`, saved with save_pretrained."""
    tokenizer = bpe_tokenizer(adds_bos=adds_bos, eos_token=eos_token)
    fields = MAMBA if model_type == "mamba" else ARCHITECTURES[model_type]
    config = AutoConfig.for_model(model_type, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                                  tie_word_embeddings=False, **fields)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
