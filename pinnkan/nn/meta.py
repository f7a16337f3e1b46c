"""MetaKAN coefficient source: per-edge prompts mapped to coefficients by shared meta-learners.

    w^{(l)}_{ji} = M_{θ_c}(z^{(l)}_{ji}) / √n_l,      l ∈ L_c (cluster c)

* prompts z^{(l)} ∈ R^{n_{l+1} × n_l × p} (p = ``prompt_dim``), one per edge, trainable;
* meta-learner M_θ: R^p → R^m, a two-layer MLP ``p → hidden → m`` (the paper's eq. 9);
* C meta-learners, one per contiguous cluster of layers (Algorithm 2, see ``clustering.py``).

The fixed factor 1/√n_l (not trained) keeps a layer's output of order one at initialisation
whatever its fan-in, since a smooth M maps nearby prompts to similar coefficients; it plays the
role of the 1/√n_l of a direct KAN's initialisation. It applies to the coefficients the edge is
linear in (``EdgeFamily.linear_coefficients``): all of a B-spline's or RBF's, a wavelet's
amplitude a but not its translation μ and scale s, which a direct WavKAN does not scale by the
fan-in either (divided by √n_l, every first-layer edge of a d = 1000 net started at one wavelet
centred near 0, and moving μ by 1 took a meta-learner output change of √n_l).

Initialisation (``init``): the prompts z ~ N(0, 1) and the meta-learner's default Linear init
("paper"), then by default "centered" (below). With "paper" alone the mean generated coefficient w̄ = mean_e M(z_e) is not zero, and a hidden unit
of layer 0 is ``Σ_i φ(x_i; w_ji) = √n_0·φ(·; w̄)``-sized common part plus an O(1) part that
differs between units: at n_0 = 1,000 every first-layer unit sits near the same value (≈ 6)
outside the next layer's grid, and training stays at the radial floor. "centered" shifts the
output bias once at construction, ``c ← c − mean_e M(z_e)`` over the cluster's initial prompts, so
that the generated coefficients start with zero mean over the edges, as a KAN's do (not in a
cluster of one edge, which it would set to 0), or with the mean of the direct init where that
is not zero (``EdgeFamily.initial_mean``: a wavelet's σ = 1; node means start there too); same
parameters, same function class, only the starting point moves. Measured (results/table2.md,
table4.md, table8.md): fewer stalled seeds in fits and in PDE solves at d = 20 and 50, all 18
Table 4 rows at the paper's accuracy; it does not rescue MetaKAN at d = 1000.

Node means (``node_mean=True``, not the paper's model): each node j of layer l also gets a trained
coefficient vector a^{(l)}_j ∈ R^m (zero at the start), and the meta-learner generates only each
edge's deviation from its node's mean,

    w^{(l)}_{ji} = (M(z_ji) − mean_{i'} M(z_ji')) / √n_l + a^{(l)}_j        (+ Σ_l n_{l+1}·m parameters).

Why: a prompt moves its edge only along the tangent M'(z_ji), so it sees the edge's gradient
G_ji only as ⟨G_ji, M'(z_ji)⟩. The part of G common to a node's edges (at high d, the radial
part of the residual: 300–1,400× the edge-specific part per edge at d = 100 – 1,000) lands on
tangents that differ from edge to edge and becomes noise that drowns the coordinate-specific
part: at initialisation the prompt steps are uncorrelated with the slopes the solution needs
(``benchmarks/prompt_signal.py``), and at d = 1,000 MetaKAN never leaves the radial solution.
With node means the common part goes to a_j, and the prompts get ``G_ji − mean_i' G_ji'``.

The coefficients never depend on x: they are generated once per forward pass, each
meta-learner's weights read once for all the layers of its cluster. For p = 1 and a ReLU
meta-learner (the paper's setting) M is piecewise linear in z and is evaluated exactly (to
round-off) from a table of its h + 1 linear pieces (``scalar_relu.py``): O(E·m) per pass instead
of O(E·h·m). Trainable parameters:
``Σ_l E_l·p + C·(p·h + h·m [+ h + m if meta_bias])``; for p = 1 with biases this is
``E + C·((h + 1)·m + 2h)``, e.g. 4,137 for [20, 32, 32, 32, 1], G = 5, k = 3, h = 128: the count
the paper's Table 8 gives. (Its Table 1 and §3 formula ``E + C·(h + 1)·m`` leaves out the first
layer's h weights and h biases: 3,881 there.)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..device import draw
from .activations import META_ACTIVATIONS, check_activation
from .kan import KANLayer
from .mlp import linear
from .scalar_relu import node_centered, scalar_relu_blocks, scalar_relu_mlp, scaled


class MetaLearner(nn.Module):
    """``M_θ(z) = W_2 σ(W_1 z + b_1) + b_2``: ``(..., prompt_dim)`` -> ``(..., out_dim)``."""

    def __init__(
        self,
        prompt_dim: int,
        hidden: int,
        out_dim: int,
        bias: bool = True,
        activation: str = "relu",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_activation(activation, META_ACTIVATIONS, "meta_activation")
        self.hidden = linear(prompt_dim, hidden, bias, generator)
        self.output = linear(hidden, out_dim, bias, generator)
        self.activation_name = activation
        self.activation = META_ACTIVATIONS[activation]

    def extra_repr(self) -> str:
        return f"activation={self.activation_name}"

    @property
    def piecewise_linear(self) -> bool:
        """Whether M is a ReLU MLP of scalar prompts (p = 1), evaluated from its linear pieces."""
        return self.activation_name == "relu" and self.hidden.in_features == 1

    def dense(self, z: Tensor) -> Tensor:
        """The definition, through the ``(..., hidden)`` activations."""
        return self.output(self.activation(self.hidden(z)))

    def forward(self, z: Tensor) -> Tensor:
        """``M(z)``: ``(..., p)`` -> ``(..., out_dim)``.

        Same function as :meth:`dense` to round-off; for a piecewise-linear M it is evaluated
        from its pieces (:func:`scalar_relu_mlp`), O(E·m) instead of O(E·h·m).
        """
        if not self.piecewise_linear:
            return self.dense(z)
        return scalar_relu_mlp(z, self.hidden, self.output)

    def blocks(
        self, prompts: list[Tensor], scales: list[float], means: list[Tensor] | None = None
    ) -> list[Tensor]:
        """``[M(z_l)·s_l]`` for blocks of prompts ``z_l (..., p)`` -> ``(..., out_dim)`` each,
        :func:`node_centered` on ``means[l] (out_l, out_dim)`` where given (then ``z_l`` is
        ``(out_l, in_l, p)``).

        One call for all of a cluster's layers (for a piecewise-linear M, one kernel call on the
        CPU, node centring included: :func:`scalar_relu_blocks`).
        """
        if self.piecewise_linear:
            return scalar_relu_blocks(prompts, scales, self.hidden, self.output, means)
        flat = self.dense(torch.cat([z.reshape(-1, z.shape[-1]) for z in prompts]))
        pieces = flat.split([z[..., 0].numel() for z in prompts])
        blocks = [
            scaled(piece.view(*z.shape[:-1], -1), scale)
            for piece, z, scale in zip(pieces, prompts, scales, strict=True)
        ]
        return node_centered(blocks, means) if means else blocks


def fan_in_factors(
    layers: list[KANLayer], linear: tuple[bool, ...] | None
) -> tuple[list[tuple[float, ...]] | None, list[float]]:
    """The fixed factors 1/√n_l: ``(None, [1/√n_l per layer])`` when φ is linear in every
    coefficient, else ``([per-column factors per layer], [1.0 per layer])``, the factor only in
    the columns φ is linear in (a wavelet's amplitude, not its translation and scale)."""
    factors = [1.0 / math.sqrt(layer.in_features) for layer in layers]
    if linear is None or all(linear):
        return None, factors
    columns = [tuple(f if is_linear else 1.0 for is_linear in linear) for f in factors]
    return columns, [1.0] * len(layers)


META_INITS = ("paper", "centered")


def check_meta_init(init: str, bias: bool) -> None:
    """``init`` must be one of :data:`META_INITS`; "centered" shifts the output bias, so needs it."""
    if init not in META_INITS:
        raise ValueError(f"meta_init={init!r} is not known; allowed: {', '.join(META_INITS)}")
    if init == "centered" and not bias:
        raise ValueError(
            "meta_init='centered' is not allowed with meta_bias=false; it shifts the output bias"
        )


class MetaCoefficients(nn.Module):
    """Coefficients of every layer generated from prompts by the layer's cluster meta-learner.

    Args:
        layers: the network's layers (all with the same edge family size m).
        labels: cluster label of each layer (from :func:`cluster_layers`).
        hidden, bias, activation: the meta-learners' hidden width, biases and activation.
        prompt_dim: p, the dimension of each edge's prompt.
        generator: for the prompts' initialisation z ~ N(0, 1).
        init: "centered" (output bias shifted so that the generated coefficients have zero mean
            over each cluster's edges; needs ``bias``) or "paper" (the default Linear init only).
        node_mean: per-node mean coefficients trained directly, the meta-learner generating the
            edges' deviations from them (see the module docstring).
        fan_in_on_all: the factor 1/√n_l on every coefficient and a zero-mean start, also where
            the edge is not linear in them (a wavelet's μ, s), as before the ``meta_fan_in`` option.
    """

    def __init__(
        self,
        layers: list[KANLayer],
        labels: list[int],
        hidden: int,
        bias: bool = True,
        activation: str = "relu",
        prompt_dim: int = 1,
        generator: torch.Generator | None = None,
        init: str = "centered",
        node_mean: bool = False,
        fan_in_on_all: bool = False,
    ) -> None:
        super().__init__()
        check_meta_init(init, bias)
        sizes = {layer.family.num_coefficients for layer in layers}
        if len(sizes) != 1:
            raise ValueError(
                f"all layers of a MetaKAN need one coefficient size, got {sorted(sizes)}"
            )
        self.labels = list(labels)
        self.shapes = [(layer.out_features, layer.in_features) for layer in layers]
        family = layers[0].family
        linear = None if fan_in_on_all else family.linear_coefficients
        self.column_scales, self.scales = fan_in_factors(layers, linear)
        self.initial_mean = None if fan_in_on_all else family.initial_mean
        self.prompts = nn.ParameterList(
            nn.Parameter(draw(torch.randn, (out, inp, prompt_dim), generator=generator))
            for out, inp in self.shapes
        )
        self.members = [
            [index for index, label in enumerate(labels) if label == cluster]
            for cluster in range(max(labels) + 1)
        ]
        out_dim = sizes.pop()
        self.meta_learners = nn.ModuleList(
            MetaLearner(prompt_dim, hidden, out_dim, bias, activation, generator)
            for _ in range(max(labels) + 1)
        )
        start = torch.tensor(self.initial_mean or [0.0] * out_dim)  # a_j: the direct init's mean
        self.node_means = (
            nn.ParameterList(nn.Parameter(start.repeat(out, 1)) for out, _ in self.shapes)
            if node_mean
            else None
        )
        if init == "centered":
            self.center_outputs()

    def cluster_prompts(self, members: list[int]) -> Tensor:
        """The prompts of a cluster's layers as one ``z (E_c, p)``."""
        return torch.cat([self.prompts[i].reshape(-1, self.prompts[i].shape[-1]) for i in members])

    @torch.no_grad()
    def center_outputs(self) -> None:
        """``c ← c − mean_e M(z_e)`` per cluster: the generated coefficients get zero edge-mean.

        A cluster of one edge (a 1 → 1 layer of its own) is left as it is: its mean is its only
        edge, which the shift would set to 0 (and with it the network's output and the
        gradients of the layers before it)."""
        for meta, members in zip(self.meta_learners, self.members, strict=True):
            prompts = self.cluster_prompts(members)
            if prompts.shape[0] > 1:
                shift = meta(prompts).mean(dim=0)
                if self.initial_mean is not None:  # only in columns without the factor
                    shift -= shift.new_tensor(self.initial_mean)
                meta.output.bias -= shift

    def forward(self) -> list[Tensor]:
        """``[w^{(0)}, …]``, each ``(n_{l+1}, n_l, m)``: one meta-learner call per cluster.

        Each layer's block is ``M(z^{(l)})·(1/√n_l)`` from :meth:`MetaLearner.blocks`, one call
        per cluster; with node means, each node's mean over its edges is replaced by its trained
        a_j.
        """
        coefficients: list[Tensor] = [None] * len(self.prompts)  # type: ignore[list-item]
        for meta, members in zip(self.meta_learners, self.members, strict=True):
            prompts = [self.prompts[index] for index in members]
            means = None if self.node_means is None else [self.node_means[i] for i in members]
            scales = [self.scales[index] for index in members]
            if self.column_scales is None:
                blocks = meta.blocks(prompts, scales, means)
            else:  # a factor per column (1.0 in the kernel), then the node means
                blocks = meta.blocks(prompts, scales)
                columns = [self.column_scales[index] for index in members]
                blocks = [block * block.new_tensor(c) for block, c in zip(blocks, columns)]
                blocks = node_centered(blocks, means) if means else blocks
            for index, block in zip(members, blocks, strict=True):
                coefficients[index] = block
        return coefficients
