"""The machine's matmul peak, measured: a large square matmul, best of a few repetitions, with the
thread count the benchmark runs with.

fp32 is timed on both GEMM libraries inside PyTorch, ``torch.mm`` (MKL) and oneDNN
(``torch.ops.mkldnn._linear_pointwise``), and the peak is the faster: on AMD CPUs MKL runs its AVX2
code and oneDNN its AVX-512 code (about 2x). bf16 ``torch.mm`` already runs on oneDNN.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def _best(fn: Callable[[], object], reps: int, sync: Callable[[], None]) -> float:
    for _ in range(2):  # warm-up: thread pool, packing buffers, clocks
        fn()
    sync()
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_peaks(dtype: torch.dtype = torch.float32, n: int = 2048, reps: int = 5, device: str = "cpu") -> dict[str, float]:
    """FLOP/s of the fastest of ``reps`` (n x n) @ (n x n) products (2 n^3 FLOPs each), per library."""
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    out = torch.empty(n, n, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    flops = 2 * n ** 3
    peaks = {"torch.mm": flops / _best(lambda: torch.mm(a, b, out=out), reps, sync)}
    op = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
    if device == "cpu" and op is not None and torch.backends.mkldnn.is_available():
        try:
            peaks["onednn"] = flops / _best(lambda: op(a, b, None, "none", [], ""), reps, sync)
        except RuntimeError:
            pass
    return peaks


def matmul_peak(dtype: torch.dtype = torch.float32, n: int = 2048, reps: int = 5, device: str = "cpu") -> float:
    """The best of :func:`matmul_peaks`."""
    return max(matmul_peaks(dtype, n, reps, device).values())


if __name__ == "__main__":
    for dt in (torch.float32, torch.bfloat16):
        peaks = matmul_peaks(dt)
        print(f"{dt}: " + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in peaks.items())
              + f" ({torch.get_num_threads()} threads)")
