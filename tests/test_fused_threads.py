"""The fused CPU kernels split the lanes (B*N) across ``torch.get_num_threads()`` threads: the
spikes and every gradient are bit-identical to one thread's, and the split happens.

The reference is the same computation on one thread (a lane takes the same instructions
whatever range it falls in; the parameter sums run on one thread). Speed is measured by
``benchmarks/bench_backward.py --threads``, not here. The models are the registry's paper group;
trained parameters one per neuron, so that the kernels read per-lane coefficients.
"""

from __future__ import annotations

import pytest
import torch

from lstmlif.neurons import ModelLayer, model_class, model_names
from lstmlif.neurons import fused_kernels as fk
from lstmlif.neurons.fused import CHUNK, fused_spikes

pytest.importorskip("numba")

# 5 whole chunks and a remainder of 220 lanes: three ranges on three threads, and the tail
B, N, T = 5, 300, 40


@pytest.fixture
def split(monkeypatch):
    """Threads down to one chunk each; the worker counts asked of the pool are recorded;
    torch's thread count restored after the test."""
    n = torch.get_num_threads()
    asked: list[int] = []
    real = fk._pool

    def pool(workers: int):
        asked.append(workers)
        return real(workers)

    monkeypatch.setattr(fk, "MIN_THREAD_LANES", CHUNK)
    monkeypatch.setattr(fk, "_pool", pool)
    yield asked
    torch.set_num_threads(n)


def _layer(name: str, dtype: torch.dtype, **kw) -> ModelLayer:
    cls = model_class(name)
    return ModelLayer(
        cls,
        N,
        train=tuple(cls.trainable),
        per_neuron=True,
        backward="fused",
        dtype=dtype,
        **cls.verify_params,
        **kw,
    )


def _run(layer: ModelLayer, x: torch.Tensor, w: torch.Tensor, threads: int, **kw):
    torch.set_num_threads(threads)
    layer.zero_grad(set_to_none=True)
    xx = x.clone().requires_grad_()
    if kw:
        spikes = fused_spikes(layer.model(), xx, **kw)
    else:
        spikes = layer(xx)
    spikes.backward(w)
    return [spikes.detach(), xx.grad, *(p.grad for p in layer.parameters())]


def _inputs(name: str, dtype: torch.dtype):
    torch.manual_seed(0)
    mean, std = model_class(name).input_stats
    x = torch.randn(T, B, N, dtype=dtype) * std + mean
    w = torch.randn(T, B, N, dtype=dtype)
    return x, w


def _check_same(one: list[torch.Tensor], many: list[torch.Tensor]) -> None:
    assert float(one[0].sum()) > 0, "no spikes"
    for a in one[1:]:
        assert bool(torch.isfinite(a).all()) and float(a.abs().max()) > 0
    assert len(one) == len(many)
    for a, b in zip(one, many, strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", model_names(group="paper"))
def test_threads_bit_identical(name: str, dtype: torch.dtype, split: list[int]) -> None:
    layer = _layer(name, dtype)
    x, w = _inputs(name, dtype)
    one = _run(layer, x, w, 1)
    assert split == []  # one thread: no pool
    many = _run(layer, x, w, 3)
    assert split and max(split) == 2  # three lane ranges: two on workers
    _check_same(one, many)
    assert len(one) >= 3  # spikes, dL/dI and at least one parameter gradient


@pytest.mark.parametrize("kw", [dict(store="all"), dict(checkpoint=7)], ids=["all", "ckpt"])
def test_threads_storage_variants(kw: dict, split: list[int]) -> None:
    """Every state stored, and checkpointed segments recomputed in backward, split alike."""
    layer = _layer("lstmlif", torch.float32)
    x, w = _inputs("lstmlif", torch.float32)
    _check_same(_run(layer, x, w, 1, **kw), _run(layer, x, w, 2, **kw))
    assert split


def test_lane_threads_bounds(monkeypatch) -> None:
    """At most torch's count, one per whole chunk and per MIN_THREAD_LANES lanes, at least 1."""
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        monkeypatch.setattr(fk, "MIN_THREAD_LANES", 1000)
        assert fk.lane_threads(0) == 1
        assert fk.lane_threads(CHUNK - 1) == 1
        assert fk.lane_threads(2 * CHUNK) == 1  # 512 lanes < 1000 per thread
        assert fk.lane_threads(8 * CHUNK) == 2  # 2048 lanes: two of 1000
        assert fk.lane_threads(100 * CHUNK) == 4  # torch's count
        torch.set_num_threads(1)
        assert fk.lane_threads(100 * CHUNK) == 1
    finally:
        torch.set_num_threads(n)


def test_exponentials_per_step() -> None:
    """The compute floor's count (benchmarks/bench_backward.py): vexp calls in the lane loop,
    averaged over its peeled copies; LIF's step has no exponential (alpha is given)."""
    from lstmlif.neurons.fused import exponentials_per_step, kernel_sources

    src = (
        "def vexp(x):\n    return x\n\ndef kernel(j0, j1, a):\n"
        "    for r in range(3):\n"
        "        if r >= 1:\n"
        "            for jj in range(CHU):\n                y = vexp(a) * vexp(a)\n"
        "        else:\n"
        "            for jj in range(CHU):\n                y = vexp(a) * vexp(a)\n"
    )
    assert exponentials_per_step(src) == 2.0
    lif = _layer("lif", torch.float32).model()
    sources = kernel_sources(lif)
    assert set(sources) == {"forward", "backward"}
    assert all(exponentials_per_step(s) == 0.0 for s in sources.values())
