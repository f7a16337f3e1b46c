"""B-spline grid update (knots from data) and grid extension G -> G' for KAN and MetaKAN.

Both operations move the knots of a layer and then choose new coefficients so that every edge
function φ_ji keeps its values, in the least-squares sense on samples x_s of the edge's input:

    w'_ji = argmin_w Σ_s (B'(x_si)ᵀ w − φ_ji(x_si))² + λ_i |w|²          (B' = the new basis)

with a tiny ridge λ_i (relative to the Gram matrix) for basis functions the samples miss.

*Grid update* (KAN's ``update_grid_from_samples``): the G+1 interior knots of input i blend the
quantiles of the layer's input activations with a uniform grid over their range,

    t = ε · uniform(min, max) + (1 − ε) · quantiles,     ε = ``grid_eps`` ∈ (0, 1],

extended by k knots of step (max − min)/G on each side. Samples: the activations themselves.

*Grid extension*: the interior knots are refined by linear interpolation at the fractional
positions j·G/G' (a uniform grid stays uniform; when G'/G is an integer the old knots are among
the new ones, the old spline space is nested in the new one and the least-squares fit keeps
the function up to its ridge: a relative change ≈ 1e-5 at G 5 → 10 with the default
``ridge=1e-8``, ≈ 1e-9 with ``ridge=1e-14``; the outer B-splines barely reach into the interior
range, so their columns are nearly collinear there and the ridge bias falls on them).
Samples: a dense uniform sample of each input's interior knot range. The number of coefficients
per edge changes from G+k+1 to G'+k+1: the layer's ``BSplineBasis`` and coefficient tensor are
replaced together and ``model.config["grid"]`` is set to G'.

*MetaKAN*. The coefficients are not parameters but ``w_ji = s_l (W h̃_ji)`` with
h̃_ji = [σ(W_1 z_ji + b_1); 1] the meta-learner's hidden features of prompt z_ji, W = [W_2, b_2]
its output layer and s_l = 1/√n_l. Setting new knots alone is undone at the next forward pass
(the meta-learner regenerates the old coefficients, which then mean other functions). So after
moving the knots we refit the output layer W of every meta-learner (shared by the layers of its
cluster) by the same function-space least squares, jointly over all edges of the cluster:

    W' = argmin_W Σ_{l,i,j} |B'_{li} s_l W h̃_lji − Φ_lji|²
       ⇔ (Σ_{l,i} s_l² G_li ⊗ H_li + λI) vec(W) = Σ_{l,i} s_l vec(R_li)

with G_li = B'_liᵀ B'_li, H_li = Σ_j h̃_lji h̃_ljiᵀ, R_li = Σ_j B'_liᵀ Φ_lji h̃_ljiᵀ (row-major
vec). The new coefficients of an edge are a linear map T of its old ones, W' = T W solves this
exactly when T is the same for every edge of the cluster, i.e. when all of them share one knot
vector. A prompt should mean one function wherever the meta-learner sends it, so a MetaKAN keeps
one knot vector per cluster: the grid update pools the activations of every input of every layer
of the cluster (with per-input knots a single W cannot follow the different maps T_i and the
function is lost; measured: errors of several times the output range). Grid extension refines
the shared knots, replaces the output layer by one with G'+k+1 outputs and initialises it by
this projection (exact for nested grids). With node means (``node_mean``, w_ji =
s_l W (h̃_ji − h̄_j) + a_j, h̄_j the mean over the node's edges) the node means a_j join the
unknowns: [W, A] with features [s_l (h̃_ji − h̄_j); e_j] (e_j: node j's indicator), one least
squares again, exact for nested grids for the same reason. ``refine_steps`` optional L-BFGS
iterations on the prompts and meta-learners (same objective) may follow. Use
``clusters = number of layers`` to give every layer its own knots.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from .basis import BSplineBasis
from .basis.base import per_edge
from .grid_options import widen_samples
from .grid_rebuild import rebuild_model, set_layer_grid, stored_grids  # noqa: F401 (re-export)
from .knots import (
    interior_samples,
    keep_where_samples_are_constant,
    knots_from_samples,
    refine_knots,
)
from .nn.kan import DirectCoefficients, KANNetwork
from .nn.meta import MetaCoefficients
from .nn.mlp import linear
from .validation import check_int
from .wording import counted


def check_bspline_network(model: nn.Module) -> KANNetwork:
    """The model as a KAN/MetaKAN with B-spline edges; anything else raises ValueError."""
    name = getattr(model, "config", {}).get("name", type(model).__name__)
    if not isinstance(model, KANNetwork) or not all(
        isinstance(layer.family, BSplineBasis) for layer in model.layers
    ):
        raise ValueError(f"model {name!r} has no B-spline grid; grids exist for kan and metakan")
    if not isinstance(model.coefficients, (DirectCoefficients, MetaCoefficients)):
        raise ValueError(f"model {name!r} has an unknown coefficient source")
    return model


@torch.no_grad()
def layer_inputs(model: KANNetwork, x: Tensor) -> list[Tensor]:
    """The input of every layer, ``[x, Φ⁰(x), …]``, each ``(batch, n_l)`` (output excluded)."""
    inputs = []
    for layer, weight in zip(model.layers, model.coefficients(), strict=True):
        inputs.append(x)
        x = layer(x, weight)
    return inputs


# --- least squares ---------------------------------------------------------------------------


def ridge_solve(gram: Tensor, right: Tensor, ridge: float) -> Tensor:
    """``(G + λI)⁻¹ R`` batched, λ = ridge · mean diagonal of G: ``(…, m, m)``, ``(…, m, r)``."""
    size = gram.shape[-1]
    scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1).clamp(min=1e-300)
    identity = torch.eye(size, dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve(gram + (ridge * scale)[..., None, None] * identity, right)


def fit_edge_coefficients(basis: Tensor, targets: Tensor, ridge: float = 1e-8) -> Tensor:
    """Per-edge least squares: ``B (n, in, m)``, ``Φ (n, in, out)`` -> ``w (out, in, m)``."""
    gram = torch.einsum("nim,nip->imp", basis, basis)
    right = torch.einsum("nim,nio->imo", basis, targets)
    return ridge_solve(gram, right, ridge).permute(2, 0, 1).contiguous()


def hidden_features(meta: nn.Module, prompts: Tensor) -> Tensor:
    """h̃ = [σ(W_1 z + b_1); 1]: ``(out, in, p)`` -> ``(out, in, h+1)`` (h without output bias)."""
    hidden = meta.activation(meta.hidden(prompts)).double()
    if meta.output.bias is None:
        return hidden
    return torch.cat([hidden, torch.ones_like(hidden[..., :1])], dim=-1)


def fit_output_layer(
    terms: list[tuple[Tensor, Tensor, Tensor, float]], ridge: float = 1e-10
) -> Tensor:
    """W (m, h+1) minimising Σ |B s W h̃ − Φ|² over ``terms = [(B, Φ, h̃, s), …]`` (see docstring).

    Each term: ``B (n, in, m)``, ``Φ (n, in, out)``, ``h̃ (out, in, h+1)``, scale s.
    """
    m, width = terms[0][0].shape[-1], terms[0][2].shape[-1]
    like = terms[0][0]
    check_system_fits(m * width, like.device)
    system = like.new_zeros(m, width, m, width, dtype=torch.float64)
    right = like.new_zeros(m * width, dtype=torch.float64)
    for basis, targets, features, scale in terms:
        gram = torch.einsum("nim,nip->imp", basis, basis)
        outer = torch.einsum("oig,oih->igh", features, features)
        for a in range(m):  # Σ_i G_i ⊗ H_i one block row at a time (no second system in memory)
            system[a] += scale**2 * torch.einsum("ib,igh->gbh", gram[:, a], outer)
        projected = torch.einsum("nim,nio->imo", basis, targets)
        right += scale * torch.einsum("imo,oih->mh", projected, features).reshape(-1)
    system = system.reshape(m * width, m * width)
    diagonal = system.diagonal()
    diagonal += ridge * diagonal.mean().clamp(min=1e-300)  # ridge_solve's λ, in place
    return torch.linalg.solve(system, right[:, None]).reshape(m, width)


def check_grid_change_fits(model: KANNetwork, grid: int, device: torch.device) -> None:
    """Before training: the largest system a grid change to ``grid`` intervals will solve for a
    MetaKAN (:func:`check_system_fits`), so that a run is refused at once, not after the stages
    before that change (a KAN solves small per-edge systems: nothing to check)."""
    source = model.coefficients
    if not isinstance(source, MetaCoefficients):
        return
    family = model.layers[0].family
    size = grid + family.order + int(family.base)  # coefficients per edge after the change
    nodes = 0
    for label, meta in enumerate(source.meta_learners):
        width = meta.output.in_features + (meta.output.bias is not None)
        if source.node_means is not None:
            members = [index for index, owner in enumerate(source.labels) if owner == label]
            nodes = sum(model.layers[index].out_features for index in members)
        check_system_fits(size * (width + nodes), torch.device(device))


def check_system_fits(size: int, device: torch.device) -> None:
    """The output layer's normal equations: a ``size × size`` float64 matrix and the copy that
    the solver factorises; more than 80 % of the device's memory is one line, not a process the
    kernel kills without a word (size = (G+k+1)·(meta_hidden+1): 13,260 at G = 200)."""
    needed = 2 * 8 * size**2
    if device.type == "cuda":
        total = torch.cuda.mem_get_info(device)[1]
    elif hasattr(os, "sysconf"):  # POSIX
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    else:
        return
    if needed > 0.8 * total:
        raise ValueError(
            f"refitting the meta-learners' output layers for this grid needs a {size:,} × "
            f"{size:,} linear system ({needed / 2**30:.1f} GiB with its factorisation) and this "
            f"{device.type} has {total / 2**30:.1f} GiB; give a smaller grid (or meta_hidden)"
        )


# --- update and extension --------------------------------------------------------------------


def edge_targets(model: KANNetwork, inputs: list[Tensor]) -> list[Tensor]:
    """φ_ji(x_i) of every layer at the given inputs, each ``(n, in, out)`` float64."""
    with torch.no_grad():
        return [
            per_edge(layer.family.basis(x.double()), weight.double())
            for layer, x, weight in zip(model.layers, inputs, model.coefficients(), strict=True)
        ]


def update_grid(
    model: nn.Module,
    x: Tensor,
    grid_eps: float = 0.02,
    ridge: float = 1e-8,
    refine_steps: int = 0,
    margin: float = 0.0,
) -> None:
    """Adapt every layer's knots to the activations of ``x (n, n_0)``, keeping the function.

    KAN: one knot vector per input, layer by layer (each layer's inputs come from the already
    updated layers before it). MetaKAN: one knot vector per cluster, from the pooled inputs of
    all its layers; then the meta-learners' output layers by least squares and ``refine_steps``
    L-BFGS iterations on prompts and meta-learners (see module docstring). ``margin`` m ≥ 0
    widens each input's knot range beyond its samples' [min, max] by m·(max − min) per side
    (:mod:`pinnkan.grid_options`); the function is kept on the widened range too.
    """
    regrid(check_bspline_network(model), x, None, grid_eps, ridge, refine_steps, margin)


def extend_grid(
    model: nn.Module,
    new_grid: int,
    x: Tensor | None = None,
    grid_eps: float = 0.02,
    ridge: float = 1e-8,
    refine_steps: int = 0,
    samples: int | None = None,
) -> None:
    """Refine every layer's grid from G to ``new_grid`` intervals, keeping the function.

    Without ``x``: the knots are refined (interpolated) and the function is kept on each
    input's interior knot range, sampled by ``samples`` points (default 10·(G'+k+1), ≥ 200);
    up to the ridge's bias when G'/G is an integer (module docstring). With ``x (n, n_0)``: the new knots are adapted to the
    activations of x as in :func:`update_grid` and the function is kept where x takes the
    network (also where activations left the old grid range). Replaces the layers'
    ``BSplineBasis`` and KAN coefficient tensors / MetaKAN output layers; rebuild optimizers.
    """
    model = check_bspline_network(model)
    check_int("new_grid", new_grid, 1)
    if x is not None:
        regrid(model, x, new_grid, grid_eps, ridge, refine_steps)
    else:
        refine_grid(model, new_grid, samples, ridge, refine_steps)
    model.config["grid"] = new_grid


def new_family(old: BSplineBasis, in_features: int, grid: int | None) -> BSplineBasis:
    """A basis with ``grid`` intervals (the old one when ``grid`` is None); knots set later."""
    if grid is None:
        return old
    return BSplineBasis(in_features, grid, old.order, base=old.base)


def regrid(
    model: KANNetwork,
    x: Tensor,
    grid: int | None,
    grid_eps: float,
    ridge: float,
    refine_steps: int,
    margin: float = 0.0,
) -> None:
    """Knots from the activations of x (with ``grid`` intervals when given), function kept.

    The least squares see the activations and, so that no basis function is left without
    samples (its coefficient would be arbitrary where the data are sparse), a uniform sample of
    each input's new interior knot range (widened by ``margin``, see :func:`widen_samples`).
    """
    check_int("refine_steps", refine_steps, 0)
    check_grid_samples(x, grid or model.layers[0].family.grid)
    if isinstance(model.coefficients, DirectCoefficients):
        regrid_kan(model, x, grid, grid_eps, ridge, margin)
        return
    inputs = layer_inputs(model, x)
    labels = model.coefficients.labels
    order = model.layers[0].family.order
    size = grid if grid is not None else model.layers[0].family.grid
    knots = []
    for index, owner in enumerate(labels):
        members = [member for member, label in enumerate(labels) if label == owner]
        pooled = torch.cat([inputs[member].reshape(-1, 1) for member in members])
        shared = knots_from_samples(widen_samples(pooled, margin), size, order, grid_eps)
        knots.append(shared.expand(model.layers[index].in_features, -1).clone())
    samples = [with_uniform_samples(x, row, order) for x, row in zip(inputs, knots)]
    targets = edge_targets(model, samples)
    for layer, row in zip(model.layers, knots, strict=True):
        layer.family = new_family(layer.family, layer.in_features, grid)
        layer.family.knots = row
    if grid is not None:
        replace_meta_outputs(model.coefficients, model.layers[0].family.num_coefficients)
    refit_meta(model, samples, targets, ridge, refine_steps)


def check_sample_count(n: int, grid: int, what: str = "sample") -> None:
    """G + 1 knots at quantiles of n samples need n ≥ G + 1 (fewer repeat knots, and the
    function is lost off them)."""
    if n < grid + 1:
        raise ValueError(
            f"a grid from {counted(n, what)} is not allowed with grid={grid}: its {grid + 1} knots are "
            f"quantiles of the samples; give at least {grid + 1} (thousands keep the function "
            "best)"
        )


def check_grid_samples(x: Tensor, grid: int) -> None:
    """Samples ``x (n, d)`` for knots: enough (:func:`check_sample_count`) and finite (one NaN
    made every knot NaN)."""
    check_sample_count(x.shape[0] if x.ndim == 2 else 0, grid)
    finite = torch.isfinite(x).all(dim=1)
    if not bool(finite.all()):
        raise ValueError(
            f"the samples for a grid are not finite (NaN or inf) at {int((~finite).sum())} of "
            f"{x.shape[0]} points"
        )


def with_uniform_samples(x: Tensor, knots: Tensor, order: int) -> Tensor:
    """Activations ``x (n, in)`` and 10·(G+k+1) uniform points of the knots' interior range."""
    count = 10 * (knots.shape[1] - order)
    return torch.cat([x.double(), interior_samples(knots, order, count)])


@torch.no_grad()
def regrid_kan(
    model: KANNetwork, x: Tensor, grid: int | None, grid_eps: float, ridge: float, margin: float
) -> None:
    for index, layer in enumerate(model.layers):
        weight = model.coefficients.weights[index]
        order = layer.family.order
        knots = knots_from_samples(
            widen_samples(x, margin), grid or layer.family.grid, order, grid_eps
        )
        previous = (
            layer.family.knots if grid is None else refine_knots(layer.family.knots, order, grid)
        )
        knots = keep_where_samples_are_constant(knots, previous, x)
        samples = with_uniform_samples(x, knots, order)
        target = per_edge(layer.family.basis(samples), weight.double())
        family = layer.family = new_family(layer.family, layer.in_features, grid)
        family.knots = knots
        new = fit_edge_coefficients(family.basis(samples), target, ridge).to(weight)
        if new.shape == weight.shape:
            weight.copy_(new)
        else:
            weight = model.coefficients.weights[index] = nn.Parameter(new)
        x = layer(x, weight)


def refine_grid(
    model: KANNetwork, new_grid: int, samples: int | None, ridge: float, refine_steps: int
) -> None:
    """Extension by interpolated knots, fitted on uniform samples of the interior ranges."""
    check_int("refine_steps", refine_steps, 0)
    order = model.layers[0].family.order
    count = samples if samples is not None else max(200, 10 * (new_grid + order + 1))
    check_int("samples", count, 2)
    inputs = [interior_samples(layer.family.knots, order, count) for layer in model.layers]
    targets = edge_targets(model, inputs)
    reference = next(model.parameters())
    for layer in model.layers:
        old = layer.family
        layer.family = new_family(old, layer.in_features, new_grid)
        layer.family.knots = refine_knots(old.knots, old.order, new_grid)
    if isinstance(model.coefficients, DirectCoefficients):
        for index, layer in enumerate(model.layers):
            basis = layer.family.basis(inputs[index])
            new = fit_edge_coefficients(basis, targets[index], ridge)
            model.coefficients.weights[index] = nn.Parameter(new.to(reference))
    else:
        replace_meta_outputs(model.coefficients, model.layers[0].family.num_coefficients)
        refit_meta(model, inputs, targets, ridge, refine_steps)


def replace_meta_outputs(source: MetaCoefficients, size: int) -> None:
    """New output layers ``hidden -> size`` and node means ``(out, size)``.

    Their values are set by :func:`refit_meta`.
    """
    for meta in source.meta_learners:
        old = meta.output
        new = linear(old.in_features, size, old.bias is not None)
        meta.output = new.to(device=old.weight.device, dtype=old.weight.dtype)
    if source.node_means is not None:
        source.node_means = nn.ParameterList(
            nn.Parameter(mean.new_zeros(mean.shape[0], size)) for mean in source.node_means
        )


def refit_meta(
    model: KANNetwork,
    inputs: list[Tensor],
    targets: list[Tensor],
    ridge: float,
    refine_steps: int,
) -> None:
    """Least-squares output layers of every cluster, then optional L-BFGS refinement."""
    source = model.coefficients
    bases = [layer.family.basis(x.double()).detach() for layer, x in zip(model.layers, inputs)]
    with torch.no_grad():
        for label, meta in enumerate(source.meta_learners):
            members = [l for l in range(len(bases)) if source.labels[l] == label]
            features = [hidden_features(meta, source.prompts[l]) for l in members]
            if source.node_means is not None:
                features = node_mean_features(features, [source.scales[l] for l in members])
                scales = [1.0] * len(members)
            else:
                scales = [source.scales[l] for l in members]
            terms = [
                (bases[l], targets[l], feature, scale)
                for l, feature, scale in zip(members, features, scales, strict=True)
            ]
            solution = fit_output_layer(terms, ridge)
            width = meta.output.in_features + (meta.output.bias is not None)
            set_output_layer(meta, solution[:, :width])
            if source.node_means is not None:
                set_node_means(source, members, solution[:, width:])
    if refine_steps > 0:
        refine_meta(model, bases, targets, refine_steps)


def node_mean_features(features: list[Tensor], scales: list[float]) -> list[Tensor]:
    """Features of ``w_ji = s (W h̃_ji − mean_i W h̃_ji) + a_j = [W, A] f_ji`` (node means).

    ``f_ji = [s (h̃_ji − mean_i h̃_ji); e_j]`` with e_j the indicator of node j among all the
    cluster's nodes, so the output layer W and the node means A (m, nodes) solve one least
    squares (:func:`fit_output_layer` with scale 1). The bias column of h̃ − mean is zero: its
    weight is left to the ridge (it does not change the coefficients).
    """
    nodes = sum(feature.shape[0] for feature in features)
    result, offset = [], 0
    for feature, scale in zip(features, scales, strict=True):
        out, inputs = feature.shape[:2]
        deviation = scale * (feature - feature.mean(dim=1, keepdim=True))
        indicator = feature.new_zeros(out, inputs, nodes)
        indicator[:, :, offset : offset + out] = torch.eye(out, dtype=feature.dtype)[:, None, :]
        result.append(torch.cat([deviation, indicator], dim=-1))
        offset += out
    return result


def set_output_layer(meta: nn.Module, solution: Tensor) -> None:
    """``[W_2, b_2] ← solution (m, h[+1])``."""
    solution = solution.to(meta.output.weight.dtype)
    if meta.output.bias is None:
        meta.output.weight.copy_(solution)
    else:
        meta.output.weight.copy_(solution[:, :-1])
        meta.output.bias.copy_(solution[:, -1])


def set_node_means(source: MetaCoefficients, members: list[int], solution: Tensor) -> None:
    """``a^{(l)} ← columns of solution (m, nodes)``, the cluster's layers in order."""
    offset = 0
    for l in members:
        mean = source.node_means[l]
        mean.copy_(solution[:, offset : offset + mean.shape[0]].t().to(mean.dtype))
        offset += mean.shape[0]


def refine_meta(model: KANNetwork, bases: list[Tensor], targets: list[Tensor], steps: int) -> None:
    """L-BFGS on prompts and meta-learners: min Σ_l |per_edge(B_l, w_l) − Φ_l|² / Σ_l |Φ_l|²."""
    parameters = list(model.coefficients.parameters())
    dtype = parameters[0].dtype
    bases = [basis.to(dtype) for basis in bases]
    targets = [target.to(dtype) for target in targets]
    norm = sum(float(target.square().sum()) for target in targets) or 1.0
    optimizer = torch.optim.LBFGS(
        parameters, lr=1.0, max_iter=steps, line_search_fn="strong_wolfe", history_size=20
    )

    def closure() -> Tensor:
        optimizer.zero_grad(set_to_none=True)
        weights = model.coefficients()
        loss = sum(
            (per_edge(basis, weight) - target).square().sum()
            for basis, weight, target in zip(bases, weights, targets, strict=True)
        )
        loss = loss / norm
        loss.backward()
        return loss

    optimizer.step(closure)
    optimizer.zero_grad(set_to_none=True)
