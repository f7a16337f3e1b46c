"""Model registry: ``build_model(name, width, **options)`` for every backbone.

Names: "mlp", "kan", "fastkan", "wavkan" and the meta versions "metakan", "metafastkan",
"metawavkan". A meta model is its plain model with :class:`MetaCoefficients` as coefficient
source, so every edge family works with either source. Each model accepts exactly the options
listed in its :class:`ModelSpec`; anything else, or an invalid value, raises ``ValueError``
naming the value and what is allowed. The resolved options are kept on the model as
``model.config`` (plain data, saved in run files; ``build_model(**model.config)`` rebuilds it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..basis import BSplineBasis, EdgeFamily, GaussianRBFBasis, WaveletFamily
from ..basis.wavelet import MOTHER_WAVELETS
from ..validation import check_bool, check_choice, check_generator, check_int, check_range, integer
from .activations import ACTIVATIONS, META_ACTIVATIONS
from .clustering import cluster_layers
from .kan import DirectCoefficients, KANLayer, KANNetwork
from .meta import META_INITS, MetaCoefficients
from .mlp import MLP

FamilyFactory = Callable[[int, dict[str, Any]], EdgeFamily]


@dataclass(frozen=True)
class ModelSpec:
    """A registered backbone: its edge family (None for the MLP), source and default options."""

    name: str
    family: FamilyFactory | None
    meta: bool
    defaults: dict[str, Any]
    description: str


META_DEFAULTS = {
    "meta_hidden": 64,
    "meta_bias": True,
    "meta_activation": "relu",
    "meta_init": "centered",  # "paper" where meta_bias=False (see build_model)
    "node_mean": False,
    "prompt_dim": 1,
    "clusters": 1,
}

MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> None:
    """Add a backbone to the registry; a name can be registered once. Options of its own
    (``spec.defaults`` keys the built-in models lack) are passed to its family unchecked."""
    if spec.name in MODELS:
        raise ValueError(f"model {spec.name!r} is already registered")
    MODELS[spec.name] = spec


def register_family(
    name: str,
    family: FamilyFactory,
    defaults: dict[str, Any],
    what: str,
    meta_extra: dict[str, Any] | None = None,
) -> None:
    """Register ``name`` (direct coefficients) and ``"meta" + name`` (meta-learned, with the
    meta options and ``meta_extra``)."""
    register_model(ModelSpec(name, family, False, defaults, what))
    meta_defaults = {**defaults, **META_DEFAULTS, **(meta_extra or {})}
    register_model(ModelSpec("meta" + name, family, True, meta_defaults, f"Meta{what}"))


def bspline_family(in_features: int, options: dict[str, Any]) -> EdgeFamily:
    return BSplineBasis(in_features, options["grid"], options["k"], options["grid_range"])


def rbf_family(in_features: int, options: dict[str, Any]) -> EdgeFamily:
    return GaussianRBFBasis(options["centers"], options["grid_range"])


def wavelet_family(in_features: int, options: dict[str, Any]) -> EdgeFamily:
    return WaveletFamily(options["wavelet"])


register_model(ModelSpec("mlp", None, False, {"activation": "tanh", "bias": True}, "MLP baseline"))
register_family(
    "kan",
    bspline_family,
    {"grid": 5, "k": 3, "grid_range": (-1.0, 1.0), "bias": False},
    "KAN (B-spline + SiLU)",
)
register_family(
    "fastkan",
    rbf_family,
    {"centers": 8, "grid_range": (-1.0, 1.0), "bias": False},
    "FastKAN (Gaussian RBF)",
)
register_family(
    "wavkan",
    wavelet_family,
    {"wavelet": "mexican_hat", "bias": False},
    "WavKAN",
    # which generated coefficients the fixed 1/√n_l multiplies: the amplitude (what the edge is
    # linear in), or "all" three (as before this option: run files without it rebuild with it)
    meta_extra={"meta_fan_in": "amplitude"},
)
META_FAN_IN = ("amplitude", "all")


def legacy_model_options(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Options a stored model ``config`` (resolved, from a run file) lacks because it was made
    before they existed, set to what the model did then: a MetaWavKAN without ``meta_fan_in``
    divided all three coefficients by √n_l."""
    if name == "metawavkan" and "meta_fan_in" not in config:
        return {"meta_fan_in": "all"}
    return {}


def list_models() -> list[str]:
    return list(MODELS)


def model_options(name: str) -> dict[str, Any]:
    """The options ``name`` accepts, with their defaults."""
    return dict(get_spec(name).defaults)


def get_spec(name: str) -> ModelSpec:
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"model {name!r} is not known; allowed: {', '.join(MODELS)}")
    return MODELS[name]


def build_model(
    name: str,
    width: list[int],
    generator: torch.Generator | None = None,
    **options: Any,
) -> nn.Module:
    """Build a backbone of structure ``width = [n_0, …, n_L]``.

    Args:
        name: one of :func:`list_models`.
        width: layer widths, at least two positive integers.
        generator: random generator for the initialisation (the global one if None).
        **options: model options (see :func:`model_options`); e.g. ``grid``, ``k``,
            ``grid_range``, ``centers``, ``wavelet``, ``activation``, ``bias``,
            ``meta_hidden``, ``meta_bias``, ``meta_activation``, ``meta_init``, ``node_mean``,
            ``prompt_dim``, ``clusters``, ``meta_fan_in`` (MetaWavKAN). ``meta_init`` defaults to "centered", or to "paper" when
            ``meta_bias=False`` (centring shifts the output bias).

    Example:
        >>> model = build_model("metakan", [20, 32, 32, 32, 1], grid=5, k=3, meta_hidden=128)
        >>> count_parameters(model)
        4137
    """
    spec = get_spec(name)
    width = check_width(width)
    check_generator(generator)
    unknown = sorted(set(options) - set(spec.defaults))
    if unknown:
        raise ValueError(
            f"option {unknown[0]!r} is not an option of model {name!r}; "
            f"allowed: {', '.join(spec.defaults)}"
        )
    resolved = {**spec.defaults, **options}
    if spec.meta and "meta_init" not in options and not resolved["meta_bias"]:
        resolved["meta_init"] = "paper"  # centring shifts the output bias; without one, no shift
    check_options(resolved, layers=len(width) - 1)
    if resolved.get("node_mean"):
        check_node_mean_width(width)
    if spec.family is None:
        model = MLP(width, resolved["activation"], resolved["bias"], generator)
    else:
        model = build_kan(spec, width, resolved, generator)
    model.config = {"name": name, "width": width, **resolved}
    return model


def build_kan(
    spec: ModelSpec, width: list[int], options: dict[str, Any], generator: torch.Generator | None
) -> KANNetwork:
    layers = [
        KANLayer(spec.family(n_in, options), n_in, n_out, options["bias"])
        for n_in, n_out in zip(width[:-1], width[1:])
    ]
    if not spec.meta:
        return KANNetwork(width, layers, DirectCoefficients(layers, generator))
    labels = cluster_layers(width[1:], options["clusters"])
    source = MetaCoefficients(
        layers,
        labels,
        hidden=options["meta_hidden"],
        bias=options["meta_bias"],
        activation=options["meta_activation"],
        prompt_dim=options["prompt_dim"],
        generator=generator,
        init=options["meta_init"],
        node_mean=options["node_mean"],
        fan_in_on_all=options.get("meta_fan_in") == "all",
    )
    return KANNetwork(width, layers, source)


def check_node_mean_width(width: list[int]) -> None:
    """Node means need two or more inputs per layer: a node's one edge would be its own mean,
    its prompt would get no gradient and the layer would start at zero."""
    single = [index for index, n_in in enumerate(width[:-1]) if n_in == 1]
    if single:
        raise ValueError(
            f"node_mean=True is not allowed with width {width}: layer {single[0]} has one input, "
            "whose one edge would be its node's mean (its prompts would get no gradient); give "
            "every layer two or more inputs, or leave node_mean off"
        )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- validation -----------------------------------------------------------------------------


def check_width(width: Any) -> list[int]:
    if isinstance(width, str) or not hasattr(width, "__len__"):
        raise ValueError(
            f"width={width!r} is not allowed; give a list of at least 2 positive integers"
        )
    if len(width) < 2:
        raise ValueError(f"width={list(width)!r} has {len(width)} entries; at least 2 are needed")
    entries = [integer(entry) for entry in width]
    for entry, number in zip(width, entries, strict=True):
        if number is None or number < 1:
            raise ValueError(f"width entry {entry!r} is not allowed; widths are positive integers")
    return entries


CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "grid": lambda o, v: check_int(o, v, 1),
    "k": lambda o, v: check_int(o, v, 1),
    "centers": lambda o, v: check_int(o, v, 2),
    "grid_range": check_range,
    "wavelet": lambda o, v: check_choice(o, v, MOTHER_WAVELETS),
    "activation": lambda o, v: check_choice(o, v, ACTIVATIONS),
    "bias": check_bool,
    "meta_hidden": lambda o, v: check_int(o, v, 1),
    "meta_bias": check_bool,
    "meta_activation": lambda o, v: check_choice(o, v, META_ACTIVATIONS),
    "meta_init": lambda o, v: check_choice(o, v, META_INITS),
    "node_mean": check_bool,
    "prompt_dim": lambda o, v: check_int(o, v, 1),
    "meta_fan_in": lambda o, v: check_choice(o, v, META_FAN_IN),
}


def check_options(options: dict[str, Any], layers: int) -> None:
    """Validate every resolved option; ``clusters`` must lie in 1 … number of layers."""
    for option, value in options.items():
        if option == "clusters":
            options[option] = check_int(option, value, 1, layers)
            continue
        check = CHECKS.get(option)
        if check is None:  # an option of a registered model of the user's: its family checks it
            continue
        checked = check(option, value)
        if checked is not None:  # a checked number, as a Python int
            options[option] = checked
    if "grid_range" in options:
        options["grid_range"] = tuple(float(v) for v in options["grid_range"])
