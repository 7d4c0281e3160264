"""PyTorch multi-step layers for training: input current (T, B, N) -> spikes (T, B, N).

``ModelLayer`` trains any registered model: each trained parameter is a fresh raw tensor mapped to
the parameter by the form the model class declares (``trainable``: alpha = sigmoid(alpha_logit),
tau = exp(log_tau), LSTM-LIF's beta1 = -sigmoid(c1), ...), one per layer or one per neuron; the
other parameters are fixed numbers. At every forward the layer builds the model record from
them and runs the one step function (``neurons.simulate``: surrogate gradients, O(T) backward)
or the exact adjoint (``backward="exact"``). Works on CPU or CUDA, float32 or float64 (follows
the input). ``LIFLayer``, ``ALIFLayer`` and ``LSTMLIFLayer`` are the paper's models with their
historical keyword names; ``make_layer(name, size)`` builds the layer of any registered model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from .base import SWITCHES, NeuronModel
from .exact import BACKWARDS, exact_simulate, exact_spikes, one_thread
from .mathspace import NUMPY_MATH, TORCH_MATH
from .models import ALIF, LIF, LSTMLIF
from .parameterisations import Form, Identity, Trainable
from .registry import model_class
from .simulate import Trace, simulate

__all__ = [
    "SpikingLayer",
    "ModelLayer",
    "LIFLayer",
    "ALIFLayer",
    "LSTMLIFLayer",
    "TCLIFLayer",
    "make_layer",
]


class SpikingLayer(nn.Module):
    """Base: ``forward(x)`` with x of shape (T, B, N) returns spikes (T, B, N);
    ``run(x)`` returns the whole ``Trace`` (spikes and pre-reset potentials).

    ``backward="autograd"`` (default, the reference) differentiates the per-step graph;
    ``backward="exact"`` runs the forward without a graph and differentiates by the adjoint
    recursion (``neurons.exact``): the same gradients, faster, less memory (``forward`` returns
    the spikes only and its backward can run once per forward; ``run`` returns and keeps every
    state); ``backward="fused"`` runs numba kernels generated from the step (``neurons.fused``;
    on CUDA tensors ``neurons.fused_cuda``): the same gradients, faster still, the least
    memory. Threads (``torch.set_num_threads``): the fused kernels split the lanes B*N across
    them; the exact path's time loops and the autograd path's forward run on one thread.
    """

    def __init__(self, size: int, backward: str = "autograd", **switches: Any) -> None:
        super().__init__()
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise ValueError(f"{type(self).__name__}: size must be a positive int, got {size!r}")
        if backward not in BACKWARDS:
            raise ValueError(
                f"{type(self).__name__}: unknown backward {backward!r}; choose one of "
                f"{list(BACKWARDS)}"
            )
        self.size = size
        self.backward = backward
        self.switches = switches

    def model(self) -> NeuronModel:
        """The model record built from the current parameter values."""
        raise NotImplementedError

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.size:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"{type(self).__name__}: input must be a tensor of shape (T, B, {self.size}), "
                f"got {shape}"
            )

    def run(self, x: torch.Tensor) -> Trace:
        """The whole trace of input current x (T, B, N): spikes S (T, B, N) and every state's
        pre-reset potentials (T, B, N), differentiable by this layer's ``backward``."""
        self._check_input(x)
        if self.backward == "exact":
            return exact_simulate(self.model(), x)
        if self.backward == "fused":
            from .fused import fused_simulate  # numba is imported on first use only

            return fused_simulate(self.model(), x)
        with one_thread():  # the per-step graph's small ops: one thread is never slower
            return simulate(self.model(), x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes S (T, B, N) = H(potential - threshold) for input current x (T, B, N)."""
        if self.backward == "exact":
            self._check_input(x)
            return exact_spikes(self.model(), x)
        if self.backward == "fused":
            from .fused import fused_spikes

            self._check_input(x)
            return fused_spikes(self.model(), x)
        return self.run(x).spikes

    def extra_repr(self) -> str:
        switches = {"backward": self.backward, **self.switches}
        return f"size={self.size}, " + ", ".join(f"{k}={v!r}" for k, v in switches.items())


def _trainable(cls: type[NeuronModel], name: str, form: Any, who: str) -> Trainable:
    """The raw name and form of trained parameter ``name`` (the class's, or ``form``)."""
    if name not in cls.param_specs:
        raise ValueError(
            f"{who}: {cls.__name__} has no parameter {name!r} to train; parameters "
            f"{list(cls.param_specs)}"
        )
    declared = cls.trainable.get(name)
    if form is None:
        return declared if declared is not None else Trainable(name, Identity())
    if isinstance(form, Trainable):
        return form
    if not isinstance(form, Form):
        raise ValueError(f"{who}: the form of {name!r} must be a neurons.parameterisations.Form")
    if declared is not None and declared.form == form:
        return declared
    return Trainable(name if isinstance(form, Identity) else f"raw_{name}", form)


class ModelLayer(SpikingLayer):
    """Neurons of any registered model over input current (T, B, N).

    model: a registered name, class or model record (its parameter values become the defaults);
    train: the parameters to train (names, using the forms of ``cls.trainable``, or a mapping
    name -> ``Form``); default ``cls.layer_defaults["train"]`` or none; per_neuron: one raw value
    per neuron (True) or one per layer (False); dtype: of the raw tensors (default: torch's
    default dtype); other keywords: parameter values (by parameter name, or by a raw name such as
    ``c1``) and the switches (convention, reset, detach_reset, surrogate).
    """

    model_cls: ClassVar[type[NeuronModel] | None] = None
    _by_model: ClassVar[dict[type[NeuronModel], type[ModelLayer]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.model_cls is not None:
            ModelLayer._by_model[cls.model_cls] = cls

    def __init__(
        self,
        model: str | type[NeuronModel] | NeuronModel,
        size: int,
        *,
        train: Iterable[str] | Mapping[str, Any] | None = None,
        per_neuron: bool | None = None,
        backward: str = "autograd",
        dtype: torch.dtype | None = None,
        **kwargs: Any,
    ) -> None:
        who = type(self).__name__
        cls = model_class(model)
        defaults = dict(cls.layer_defaults)
        switches = {k: kwargs.pop(k) for k in list(kwargs) if k in SWITCHES}
        super().__init__(size, backward, **switches)
        self.model_type = cls
        if per_neuron is None:
            per_neuron = bool(defaults.get("per_neuron", False))
        if not isinstance(per_neuron, bool):
            raise ValueError(f"{who}: per_neuron must be True or False, got {per_neuron!r}")
        if dtype is None:
            dtype = torch.get_default_dtype()
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"{who}: dtype must be a floating torch dtype, got {dtype!r}")
        if train is None:
            train = defaults.get("train", ())
        items = train.items() if isinstance(train, Mapping) else ((n, None) for n in train)
        self.trained: dict[str, Trainable] = {n: _trainable(cls, n, f, who) for n, f in items}
        values = self._values(cls, model, kwargs, who)
        # one validation of every value, with the error naming the parameter
        cls(**values, **switches)
        shape = (size,) if per_neuron else ()
        self.fixed: dict[str, Any] = {}
        for name, value in values.items():
            spec = self.trained.get(name)
            if spec is None:
                self.fixed[name] = value
                continue
            try:
                raw = spec.form.inverse(value)
            except ValueError as err:
                raise ValueError(f"{who}: trainable parameter '{name}': {err}") from None
            self.register_parameter(spec.raw, nn.Parameter(torch.full(shape, raw, dtype=dtype)))
        for name, value in self.fixed.items():
            if isinstance(value, float):
                setattr(self, name, value)
        self.per_neuron = per_neuron

    def _values(
        self, cls: type[NeuronModel], model: Any, kwargs: dict[str, Any], who: str
    ) -> dict[str, Any]:
        """Parameter values as floats: the record's (if a record was given) or the class
        defaults, updated by keywords given by parameter name or by raw name."""
        raw_names = {t.raw: (n, t.form) for n, t in {**cls.trainable, **self.trained}.items()}
        base = model if isinstance(model, NeuronModel) else None
        values: dict[str, Any] = {}
        for name, value in kwargs.items():
            if name in raw_names and name not in cls.param_specs:
                pname, form = raw_names[name]
                values[pname] = float(form.forward(float(value), NUMPY_MATH))
            else:
                values[name] = value
        if base is not None:
            for name, value in base.params().items():
                values.setdefault(name, value)
        missing = [n for n in self.trained if n not in values]
        if missing:
            probe = cls()
            for name in missing:
                values[name] = getattr(probe, name)
        for name in values:
            if name not in cls.param_specs:
                raise ValueError(
                    f"{who}: unknown parameter {name!r} for {cls.__name__}; parameters "
                    f"{list(cls.param_specs)}, raw names {sorted(raw_names)}"
                )
        return values

    def model(self) -> NeuronModel:
        """The model record of the current raw tensors and fixed values."""
        trained = {
            name: spec.form.forward(getattr(self, spec.raw), TORCH_MATH)
            for name, spec in self.trained.items()
        }
        return self.model_type(**self.fixed, **trained, **self.switches)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Project every raw tensor whose form asks for it (an interpolation weight to [0, 1]);
        call after each optimiser step."""
        for spec in self.trained.values():
            bounds = spec.form.clamps_after_step()
            if bounds is not None:
                getattr(self, spec.raw).clamp_(*bounds)

    def extra_repr(self) -> str:
        forms = ", ".join(t.form.describe(n, t.raw) for n, t in self.trained.items())
        return super().extra_repr() + (f", trained: {forms}" if forms else "")


class LIFLayer(ModelLayer):
    """LIF neurons. ``learn_alpha``: alpha = sigmoid(alpha_logit) trained (one per layer, or one
    per neuron with ``per_neuron``); otherwise alpha is a fixed number (default 0.8)."""

    model_cls = LIF

    def __init__(
        self,
        size: int,
        alpha: float = 0.8,
        v_th: float = 1.0,
        learn_alpha: bool = False,
        per_neuron: bool = False,
        backward: str = "autograd",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("train", ("alpha",) if learn_alpha else ())
        super().__init__(
            LIF, size, alpha=alpha, v_th=v_th, per_neuron=per_neuron, backward=backward, **kwargs
        )


class ALIFLayer(ModelLayer):
    """ALIF neurons with trainable time constants (per neuron by default), stored as
    log(tau) so they stay positive: tau_m = exp(log_tau_m), tau_a = exp(log_tau_a)."""

    model_cls = ALIF

    def __init__(
        self,
        size: int,
        tau_m: float = 20.0,
        tau_a: float = 200.0,
        beta_a: float = 1.8,
        b0: float = 0.01,
        learn_tau: bool = True,
        per_neuron: bool = True,
        backward: str = "autograd",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("train", ("tau_m", "tau_a") if learn_tau else ())
        super().__init__(
            ALIF,
            size,
            tau_m=tau_m,
            tau_a=tau_a,
            beta_a=beta_a,
            b0=b0,
            per_neuron=per_neuron,
            backward=backward,
            **kwargs,
        )


class LSTMLIFLayer(ModelLayer):
    """LSTM-LIF / TC-LIF neurons: beta1 = -sigmoid(c1), beta2 = sigmoid(c2) with trainable
    logits, one pair per layer (default, as the official code) or per neuron."""

    model_cls = LSTMLIF

    def __init__(
        self,
        size: int,
        c1: float = 0.0,
        c2: float = 0.0,
        gamma: float = 0.5,
        v_th: float = 1.0,
        per_neuron: bool = False,
        learn_logits: bool = True,
        backward: str = "autograd",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("train", ("beta1", "beta2") if learn_logits else ())
        super().__init__(
            LSTMLIF,
            size,
            c1=c1,
            c2=c2,
            gamma=gamma,
            v_th=v_th,
            per_neuron=per_neuron,
            backward=backward,
            **kwargs,
        )


TCLIFLayer = LSTMLIFLayer


def make_layer(name: str | type[NeuronModel], size: int, **kwargs: Any) -> ModelLayer:
    """The layer of a registered model by name (any alias): the model's own layer class where
    it has one (``LIFLayer``, ``ALIFLayer``, ``LSTMLIFLayer``), else a ``ModelLayer``."""
    try:
        cls = model_class(name)
    except ValueError as err:
        raise ValueError(f"make_layer: unknown layer model {name!r}: {err}") from None
    special = ModelLayer._by_model.get(cls)
    if special is not None:
        return special(size, **kwargs)
    return ModelLayer(cls, size, **kwargs)
