"""MetaKAN coefficient source: per-edge prompts mapped to coefficients by shared meta-learners.

    w^{(l)}_{ji} = M_{θ_c}(z^{(l)}_{ji}) / √n_l,      l ∈ L_c (cluster c)

* prompts z^{(l)} ∈ R^{n_{l+1} × n_l × p} (p = ``prompt_dim``), one per edge, trainable;
* meta-learner M_θ: R^p → R^m, a two-layer MLP ``p → hidden → m`` (the paper's eq. 9);
* C meta-learners, one per contiguous cluster of layers (Algorithm 2, see ``clustering.py``).

The fixed factor 1/√n_l (not trained) keeps a layer's output of order one at initialisation
whatever its fan-in, since a smooth M maps nearby prompts to similar coefficients; it plays the
role of the 1/√n_l of a direct KAN's initialisation.

Each meta-learner runs once per forward pass per layer, on the ``(E_l, p)`` prompt matrix: the
coefficients never depend on x. Trainable parameters:
``Σ_l E_l·p + C·(p·h + h·m [+ h + m if meta_bias])``; for p = 1 with biases this is the paper's
``E + C·((h + 1)·m + 2h)``, e.g. 4,137 for [20, 32, 32, 32, 1], G = 5, k = 3, h = 128.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .activations import META_ACTIVATIONS, check_activation
from .kan import KANLayer
from .mlp import linear


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

    def forward(self, z: Tensor) -> Tensor:
        return self.output(self.activation(self.hidden(z)))


class MetaCoefficients(nn.Module):
    """Coefficients of every layer generated from prompts by the layer's cluster meta-learner.

    Args:
        layers: the network's layers (all with the same edge family size m).
        labels: cluster label of each layer (from :func:`cluster_layers`).
        hidden, bias, activation: the meta-learners' hidden width, biases and activation.
        prompt_dim: p, the dimension of each edge's prompt.
        generator: for the prompts' initialisation z ~ N(0, 1).
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
    ) -> None:
        super().__init__()
        sizes = {layer.family.num_coefficients for layer in layers}
        if len(sizes) != 1:
            raise ValueError(
                f"all layers of a MetaKAN need one coefficient size, got {sorted(sizes)}"
            )
        self.labels = list(labels)
        self.shapes = [(layer.out_features, layer.in_features) for layer in layers]
        self.scales = [1.0 / math.sqrt(layer.in_features) for layer in layers]
        self.prompts = nn.ParameterList(
            nn.Parameter(torch.randn((out, inp, prompt_dim), generator=generator))
            for out, inp in self.shapes
        )
        out_dim = sizes.pop()
        self.meta_learners = nn.ModuleList(
            MetaLearner(prompt_dim, hidden, out_dim, bias, activation, generator)
            for _ in range(max(labels) + 1)
        )

    def forward(self) -> list[Tensor]:
        """``[w^{(0)}, …]``, each ``(n_{l+1}, n_l, m)``: one meta-learner call per layer."""
        return [
            self.meta_learners[label](prompt) * scale
            for prompt, label, scale in zip(self.prompts, self.labels, self.scales, strict=True)
        ]
