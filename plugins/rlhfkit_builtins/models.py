"""Built-in models: ``tiny`` (from scratch, local tokenizer) and ``hf`` (any AutoModelForCausalLM)."""

from rlhfkit import hookimpl
from rlhfkit.models import build_tiny, load_hf


@hookimpl
def rlhfkit_models():
    return {"tiny": build_tiny, "hf": load_hf}
