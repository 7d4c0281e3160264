"""The model registry: names and aliases, refused registrations, and properties every registered
model must have (checked for whatever is registered, so a new model is covered on arrival)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from lstmlif.neurons import (
    LIF,
    LSTMLIF,
    NUMPY_OPS,
    TORCH_OPS,
    NeuronModel,
    Param,
    get_model,
    make_layer,
    model_class,
    model_names,
    register,
    registered,
    simulate,
)
from lstmlif.neurons.models import LIFCoefficients, lif_step


def test_paper_models_in_registration_order():
    names = model_names()
    assert names[:4] == ("lif", "alif", "two_compartment", "lstmlif")
    assert model_names(group="paper") == ("lif", "alif", "lstmlif")
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("alias", ["lstmlif", "TC-LIF", "tc_lif", "LSTM-LIF", "TCLIF", "lstm lif"])
def test_aliases(alias):
    assert model_class(alias) is LSTMLIF
    assert type(get_model(alias, beta1=-0.3)) is LSTMLIF


def test_unknown_names_and_parameters():
    with pytest.raises(ValueError, match="unknown model name 'hh'.*lif"):
        get_model("hh")
    with pytest.raises(ValueError, match="must be a string"):
        model_class(3)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['beta'\]"):
        get_model("lif", beta=0.3)


def _lif_like(**attrs: Any) -> type[NeuronModel]:
    """A LIF subclass with some metadata replaced (not registered)."""
    ns = {"name": "lif_like", **attrs}
    return dataclasses.dataclass(frozen=True, eq=False, kw_only=True)(
        type("LifLike", (LIF,), {k: v for k, v in ns.items()})
    )


@pytest.mark.parametrize(
    "attrs,message",
    [
        ({"name": ""}, "no registry name"),
        ({"name": "lif"}, "taken by LIF"),
        ({"aliases": ("TC-LIF",)}, "taken by LSTMLIF"),
        ({"threshold_state": "u"}, "threshold_state 'u' is not one of"),
        ({"state_names": ()}, "declares no state_names"),
        ({"param_specs": {"v_th": Param(0.0)}}, "without a range"),
        ({"verify_params": {"tau": 3.0}}, "verify_params names unknown"),
        ({"verify_params": {"alpha": 2.0}}, "'alpha' must lie in"),
        ({"input_stats": (0.3, 0.0)}, "input_stats"),
    ],
)
def test_register_refuses_inconsistent_metadata(attrs, message):
    with pytest.raises(ValueError, match=message):
        register(_lif_like(**attrs))
    assert "lif_like" not in model_names()


def test_register_refuses_a_class_without_a_step():
    @dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
    class NoStep(NeuronModel):
        name: ClassVar[str] = "nostep"
        state_names: ClassVar[tuple[str, ...]] = ("v",)
        threshold_state: ClassVar[str] = "v"

    with pytest.raises(ValueError, match="does not define coefficients"):
        register(NoStep)


def test_registered_context_registers_for_the_block_only():
    cls = _lif_like(aliases=("lif-copy",))
    with registered(cls):
        assert model_names()[-1] == "lif_like" and model_class("LIF_COPY") is cls
    assert "lif_like" not in model_names()
    with pytest.raises(ValueError, match="unknown model name"):
        model_class("lif-copy")


# ----------------------------------------------------------------------------- every model


def _case(name: str, T: int = 60, B: int = 5, seed: int = 0) -> tuple[NeuronModel, np.ndarray]:
    cls = model_class(name)
    mean, std = cls.input_stats
    rng = np.random.default_rng(seed)
    return cls(**cls.verify_params), mean + std * rng.standard_normal((T, B))


@pytest.mark.parametrize("name", model_names())
def test_spike_is_decided_by_the_carried_state(name):
    """S[t] = H(spike_argument(x[t])) for every step of a spiking run: the carried state is a
    Markov state, which the generated adjoints rely on."""
    model, x = _case(name)
    trace = simulate(model, x)
    assert trace.spikes.sum() > 0, "the verification parameters must make the model spike"
    z = model.spike_argument(model.coefficients(NUMPY_OPS), trace.states, NUMPY_OPS)
    assert np.array_equal(np.broadcast_to(z >= 0, trace.spikes.shape), trace.spikes == 1)


@pytest.mark.parametrize("name", model_names())
def test_numpy_and_torch_views_agree(name):
    model, x = _case(name, seed=1)
    ref = simulate(model, x)
    got = simulate(model, torch.tensor(x))
    assert ref.spikes.sum() > 0
    assert np.array_equal(got.spikes.numpy(), ref.spikes)
    for n in model.state_names:
        np.testing.assert_allclose(got.states[n].numpy(), ref.states[n], rtol=0, atol=1e-12)
    p = model.coefficients(TORCH_OPS)
    assert dataclasses.is_dataclass(p) and p.convention == model.convention


@pytest.mark.parametrize("name", model_names())
def test_every_model_has_a_layer_with_both_backwards(name):
    cls = model_class(name)
    mean, std = cls.input_stats
    g = torch.Generator().manual_seed(2)
    x = mean + std * torch.randn(50, 3, 4, dtype=torch.float64, generator=g)
    grads = []
    for backward in ("autograd", "exact"):
        layer = make_layer(name, 4, backward=backward, dtype=torch.float64, **cls.verify_params)
        xi = x.clone().requires_grad_(True)
        out = layer(xi)
        assert float(out.detach().sum()) > 0
        (out * torch.linspace(-1.0, 1.0, 4, dtype=torch.float64)).sum().backward()
        grads.append([xi.grad, *(p.grad for p in layer.parameters())])
    for a, b in zip(*grads, strict=True):
        assert bool(torch.isfinite(b).all()) and float(b.abs().max()) > 0
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)


def test_layer_keywords_by_parameter_or_raw_name_and_dtype():
    a = make_layer("lstmlif", 3, c1=0.4, dtype=torch.float64)
    b = make_layer("lstmlif", 3, beta1=-1 / (1 + np.exp(-0.4)), dtype=torch.float64)
    assert a.c1.dtype == torch.float64
    torch.testing.assert_close(a.c1, b.c1, rtol=1e-15, atol=0)
    with pytest.raises(ValueError, match="unknown parameter 'c3'"):
        make_layer("lstmlif", 3, c3=0.1)
    with pytest.raises(ValueError, match="has no parameter 'tau'"):
        make_layer("lif", 3, train=("tau",))
    with pytest.raises(ValueError, match="dtype"):
        make_layer("lif", 3, dtype=torch.int32)
    with pytest.raises(ValueError, match="make_layer: unknown layer model 'hh'"):
        make_layer("hh", 3)


def test_coefficient_records_are_typed():
    p = LIF(alpha=0.7).coefficients(NUMPY_OPS)
    assert isinstance(p, LIFCoefficients) and p.numbers() == {"alpha": 0.7, "v_th": 1.0}
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.alpha = 0.5
    moved = p.on(torch.zeros(2, dtype=torch.float64))
    assert moved.alpha == 0.7 and moved.surrogate is p.surrogate
    state, _ = lif_step(p, {"v": np.zeros(2), "S": np.zeros(2)}, np.ones(2), NUMPY_OPS)
    np.testing.assert_array_equal(state["v"], [1.0, 1.0])
