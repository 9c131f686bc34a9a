"""Faster CPU kernels and a preallocated KV cache: the same functions, computed faster.

Five named switches (``stage.fast_kernels`` of PPO, :class:`rlhfkit.stages.ppo.config.FastKernelsConfig`):
``fused_gelu`` and ``onednn_linear`` swap modules of a model (:func:`use_fast_kernels`);
``preallocated_kv_cache`` and ``lm_head_last_only`` are arguments of the sampler and the scoring
passes (:mod:`rlhfkit.models.generation`); ``torch_compile`` runs the scoring passes and the PPO
epochs through inductor (:mod:`rlhfkit.models.compile_scoring`; its ``auto`` is off). Each is
``auto`` by default: on where
benchmarks/README.md measured a gain (GPT-2-family models, fp32, on the CPU: :func:`gains_measured`),
off for every other architecture and on GPUs, where nothing here was measured to help (a Llama
model on the CPU ran slower with the module swaps). The benchmark's ``--ablate`` flips them.
Nothing here changes a model's weights or its state dict, so checkpoints and ``save_pretrained``
exports are unaffected.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import platform
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rlhfkit.errors import ConfigError

log = logging.getLogger(__name__)

SWITCHES = ("fused_gelu", "onednn_linear", "preallocated_kv_cache", "lm_head_last_only", "torch_compile")
# auto = off: on the CPU the compiled step was no faster, after up to a minute of compiling
# (rlhfkit/models/compile_scoring.py; benchmarks/README.md measures the step with and without)
OFF_BY_DEFAULT = ("torch_compile",)
MEASURED_MODEL_TYPES = ("gpt2",)  # where benchmarks/README.md measured the gains
# oneDNN instead of MKL pays where MKL does not run its AVX-512 code: on AMD CPUs (Zen 5: oneDNN's fp32
# peak 2.2x MKL's, medium +~10%). On an Intel Xeon (family 6 model 207) the two peaks are level and
# the switch cost ~20% of the medium PPO step (384 vs 484 tokens/s; benchmarks/README.md, 2026-12-01).
ONEDNN_VENDORS = ("AuthenticAMD",)


@functools.lru_cache(maxsize=1)
def cpu_vendor() -> str:
    """The CPU's vendor id (Linux /proc/cpuinfo, e.g. GenuineIntel, AuthenticAMD); "" where unknown.
    Read once per process: resolve_switches asks for every model."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


try:  # transformers >= 5: a cache is a list of layers; this one writes in place instead of re-concatenating
    from transformers.cache_utils import Cache as _HFCache
    from transformers.cache_utils import DynamicLayer as _HFDynamicLayer
except ImportError:  # older transformers: the model's default cache is used
    _HFCache = _HFDynamicLayer = None

if _HFDynamicLayer is not None:

    class _PreallocatedLayer(_HFDynamicLayer):
        """A growing KV-cache layer whose keys/values live in one buffer sized for the whole generation.

        The default ``DynamicLayer`` concatenates the new position to the whole cache at every token:
        a fresh allocation and a copy of all past keys and values per token and layer, O(R^2) traffic.
        Here each token's keys/values are written into their slot and the layer exposes a view of the
        filled prefix: the attention sees exactly the same keys and values.
        """

        def __init__(self, capacity: int) -> None:
            super().__init__()
            self.capacity = capacity
            self._length = 0
            self._key_buffer: torch.Tensor | None = None
            self._value_buffer: torch.Tensor | None = None

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            end = self._length + key_states.shape[-2]
            if self._key_buffer is None:
                b, h, _, d = key_states.shape
                self._key_buffer = key_states.new_empty(b, h, max(self.capacity, end), d)
                self._value_buffer = value_states.new_empty(b, h, max(self.capacity, end), value_states.shape[-1])
            if end > self._key_buffer.shape[-2]:  # more positions than planned: back to concatenation
                return super().update(key_states, value_states, *args, **kwargs)
            self._key_buffer[:, :, self._length:end] = key_states
            self._value_buffer[:, :, self._length:end] = value_states
            self._length = end
            self.keys, self.values = self._key_buffer[:, :, :end], self._value_buffer[:, :, :end]
            return self.keys, self.values


def _preallocated_cache(capacity: int):
    """A KV cache that holds ``capacity`` positions without re-allocating, or None (the model's default)."""
    if _HFCache is None:
        return None
    try:
        return _HFCache(layer_class_to_replicate=functools.partial(_PreallocatedLayer, capacity))
    except TypeError:  # a transformers whose Cache takes other arguments
        return None


# --------------------------------------------------------------------------- faster kernels, same functions


def _cpu_autocast() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


_GELU_C1 = 2.0 * (2.0 / 3.141592653589793) ** 0.5  # 2 sqrt(2/pi)
_GELU_C2 = _GELU_C1 * 0.044715


class _GELUTanhFn(torch.autograd.Function):
    """GELU with the tanh approximation, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    Forward as the identical x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)) (1 + tanh(u) = 2 sigmoid(2u)):
    four memory passes, and PyTorch's sigmoid is several times faster than its tanh on the CPU.
    Backward: ``aten.gelu_backward(approximate="tanh")``, PyTorch's own derivative of this function.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        u = torch.addcmul(x.new_tensor(_GELU_C1), x, x, value=_GELU_C2)  # c1 + c2 x^2
        u.mul_(x)  # 2u = c1 x + c2 x^3
        return torch.sigmoid_(u).mul_(x)

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return torch.ops.aten.gelu_backward(grad_y, x, approximate="tanh")


class FusedGELUTanh(nn.Module):
    """The tanh-approximated GELU of ``transformers``' ``NewGELUActivation`` (GPT-2's "gelu_new", eight
    elementwise ops, each a pass over the MLP activations in the forward and again in the backward),
    computed by :class:`_GELUTanhFn` on fp32/fp64 CPU tensors and ``F.gelu(approximate="tanh")``
    elsewhere (one kernel). Same function; within fp32 rounding of it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and not _cpu_autocast():
            return _GELUTanhFn.apply(x)
        return F.gelu(x, approximate="tanh")


_ONEDNN_LINEAR = None  # torch.ops.mkldnn._linear_pointwise once checked, False when unusable


def _onednn_linear():
    """oneDNN's fp32 GEMM ``(x, w, b) -> x @ w.T + b`` (x86 CPUs), or None.

    PyTorch sends fp32 CPU matmuls to MKL, which runs its AVX2 code on non-Intel x86 CPUs (half the
    AVX-512 throughput: ~105 vs ~230 GFLOP/s per core on the AMD EPYC of benchmarks/README.md);
    oneDNN, shipped inside PyTorch, runs AVX-512. Same fp32 arithmetic (IEEE fp32 products and sums,
    only the summation order differs, as between any two BLAS). Checked once against ``F.linear``.
    """
    global _ONEDNN_LINEAR
    if _ONEDNN_LINEAR is None:
        _ONEDNN_LINEAR = False
        op = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
        if op is not None and torch.backends.mkldnn.is_available() and platform.machine().lower() in ("x86_64", "amd64"):
            try:
                gen = torch.Generator().manual_seed(0)
                x, w, b = (torch.randn(*shape, generator=gen) for shape in ((37, 48), (40, 48), (40,)))
                want = F.linear(x, w, b)
                w_view = w.t().contiguous().t()  # the same matrix as a transposed view (GPT-2's Conv1D weights)
                if all(torch.allclose(op(x, weight, b, "none", [], ""), want, atol=1e-4, rtol=1e-4) for weight in (w, w_view)):
                    _ONEDNN_LINEAR = op
            except RuntimeError:
                pass
    return _ONEDNN_LINEAR or None


def _gemm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """(N, K) @ (M, K).T (+ b) -> (N, M) by oneDNN."""
    return _ONEDNN_LINEAR(x, w, b, "none", [], "")


class _OneDNNLinearFn(torch.autograd.Function):
    """y = x W^T + b with oneDNN GEMMs in the forward and in both backward products."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _gemm(x, weight, bias)  # (N, K) x (M, K) -> (N, M)

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _gemm(grad_y, weight.t())  # (N, M) @ (M, K)
        if ctx.needs_input_grad[1]:  # (M, N) @ (N, K), the short side as the left operand (faster reorder)
            if x.shape[1] <= grad_y.shape[1]:
                grad_w = _gemm(x.t(), grad_y.t()).t()  # (K, M) -> (M, K)
            else:
                grad_w = _gemm(grad_y.t(), x.t())  # (M, K)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_y.sum(0)
        return grad_x, grad_w, grad_b


def _use_onednn(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """fp32 on the CPU, no autocast (bf16 autocast already runs oneDNN), not a matrix-vector product,
    and big enough (N * K * M >= 2^20) for oneDNN's fixed cost per call (~10 us) not to matter."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and weight.dtype == torch.float32
            and min(weight.shape) >= 16 and x.numel() * weight.shape[0] >= 1 << 20
            and not _cpu_autocast())


class OneDNNLinear(nn.Linear):
    """``nn.Linear`` whose fp32 CPU products run on oneDNN (elsewhere: ``nn.Linear`` itself)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _use_onednn(x, self.weight):
            return super().forward(x)
        y = _OneDNNLinearFn.apply(x.reshape(-1, self.in_features), self.weight, self.bias)
        return y.view(*x.shape[:-1], self.out_features)


try:
    from transformers.pytorch_utils import Conv1D as _HFConv1D
except ImportError:
    _HFConv1D = None

if _HFConv1D is not None:

    class OneDNNConv1D(_HFConv1D):
        """GPT-2's ``Conv1D`` (y = x W + b, W (in, out)) with oneDNN fp32 CPU products."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if not _use_onednn(x, self.weight):
                return super().forward(x)
            y = _OneDNNLinearFn.apply(x.reshape(-1, self.nx), self.weight.t(), self.bias)
            return y.view(*x.shape[:-1], self.nf)


def use_fast_kernels(*models: nn.Module | None, gelu: bool = True, onednn: bool = True) -> dict[str, int]:
    """Swap, in place, modules of ``models`` for ones computing the same function with faster kernels:

    * ``NewGELUActivation`` -> :class:`FusedGELUTanh` (one kernel instead of eight);
    * ``nn.Linear`` / GPT-2 ``Conv1D`` -> :class:`OneDNNLinear` / ``OneDNNConv1D``: a subclass (same
      parameters, same state dict) whose fp32 CPU products use oneDNN where it is available
      (:func:`_onednn_linear`); on a GPU, under autocast or in other dtypes the parent's forward runs.

    No weight changes, so checkpoints, exports and ``deepcopy`` are unaffected. ``gelu`` / ``onednn``
    False skip that swap. Returns the counts of swapped modules.
    """
    try:
        from transformers.activations import NewGELUActivation
    except ImportError:
        NewGELUActivation = None
    onednn = onednn and _onednn_linear() is not None
    counts = {"gelu": 0, "linear": 0}
    for model in models:
        if not isinstance(model, nn.Module):
            continue
        for parent in model.modules():
            for name, child in list(parent.named_children()):
                if gelu and NewGELUActivation is not None and type(child) is NewGELUActivation:
                    setattr(parent, name, FusedGELUTanh())
                    counts["gelu"] += 1
                elif onednn and type(child) is nn.Linear:
                    child.__class__ = OneDNNLinear
                    counts["linear"] += 1
                elif onednn and _HFConv1D is not None and type(child) is _HFConv1D:
                    child.__class__ = OneDNNConv1D
                    counts["linear"] += 1
    return counts


def _config_of(model: nn.Module) -> Any:
    config = getattr(model, "config", None)
    if config is None and hasattr(model, "backbone"):  # a ScalarHeadModel (reward / value model)
        config = getattr(model.backbone, "config", None)
    return config


def gains_measured(model: nn.Module, device_type: str | None = None) -> bool:
    """Whether ``model`` is where the speed-ups were measured to help: a GPT-2-family model with fp32
    weights on the CPU (``device_type``: where it will run, when its weights are not there yet)."""
    param = next(model.parameters(), None)
    if param is None:
        return False
    return (getattr(_config_of(model), "model_type", None) in MEASURED_MODEL_TYPES
            and (device_type or param.device.type) == "cpu" and param.dtype == torch.float32)


def _switch(value: Any, key: str) -> bool | None:
    """``auto`` -> None (decided per model); true/false (bools or their spellings) -> the bool."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return None
    if text in ("true", "on", "1"):
        return True
    if text in ("false", "off", "0"):
        return False
    raise ConfigError(f"config key '{key}': '{value}' is not auto, true or false")


def resolve_switches(settings: Mapping[str, Any], model: nn.Module, key: str = "stage.fast_kernels",
                     device_type: str | None = None) -> dict[str, bool]:
    """Each switch of ``settings`` as a bool for ``model`` (``auto``: :func:`gains_measured`, and for
    ``onednn_linear`` also a CPU whose MKL lacks AVX-512 code, :data:`ONEDNN_VENDORS`; off for
    :data:`OFF_BY_DEFAULT`)."""
    unknown = sorted(set(settings) - set(SWITCHES))
    if unknown:
        raise ConfigError(f"config key '{key}.{unknown[0]}': unknown speed-up; known: {', '.join(SWITCHES)}")
    auto = gains_measured(model, device_type)
    auto_of = {name: auto for name in SWITCHES}
    auto_of["onednn_linear"] = auto and cpu_vendor() in ONEDNN_VENDORS
    auto_of |= {name: False for name in OFF_BY_DEFAULT}
    out = {}
    for name in SWITCHES:
        value = _switch(settings.get(name, "auto"), f"{key}.{name}")
        out[name] = auto_of[name] if value is None else value
    return out


def apply_fast_kernels(settings: Any, policy: nn.Module, *others: nn.Module | None,
                       key: str = "stage.fast_kernels", device_type: str | None = None) -> dict[str, bool]:
    """Apply the switches of ``settings`` (a mapping or a dataclass of :data:`SWITCHES`): each model's
    module swaps decided for that model, the sampler's and scoring passes' for the policy. Logs
    one line naming what was applied; returns the policy's switches. ``device_type``: where the
    models will run (the trainer's device), when their weights are not there yet."""
    if dataclasses.is_dataclass(settings):
        settings = dataclasses.asdict(settings)
    switches = resolve_switches(settings, policy, key, device_type)
    swapped = {"gelu": 0, "linear": 0}
    for model in (policy, *others):
        if isinstance(model, nn.Module):
            own = switches if model is policy else resolve_switches(settings, model, key, device_type)
            for kind, n in use_fast_kernels(model, gelu=own["fused_gelu"], onednn=own["onednn_linear"]).items():
                swapped[kind] += n
    log.info("fast kernels (%s): %s; modules swapped: %d GELU, %d linear", key,
             ", ".join(f"{name}={'on' if on else 'off'}" for name, on in switches.items()),
             swapped["gelu"], swapped["linear"])
    return switches
