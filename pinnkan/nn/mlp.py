"""The MLP baseline: ``y = W_L σ(… σ(W_1 x + b_1) …) + b_L`` with a fixed activation σ.

Parameters: E = Σ n_l n_{l+1} weights (the paper's Table 1 count), plus Σ n_{l+1} biases when
``bias=True``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..device import default_device, sampling_device
from ..validation import check_network_input
from .activations import ACTIVATIONS, check_activation


def linear(
    in_features: int, out_features: int, bias: bool, generator: torch.Generator | None = None
) -> nn.Linear:
    """``nn.Linear`` with PyTorch's default law U(±1/√in), drawn from ``generator``.

    Built with ``skip_init`` so that the global RNG is not consumed when a generator is given;
    drawn on the generator's device, then put on the default device (as :func:`pinnkan.device.draw` does).
    """
    device = sampling_device(generator)
    layer = nn.utils.skip_init(nn.Linear, in_features, out_features, bias=bias, device=device)
    bound = 1.0 / math.sqrt(in_features)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        if bias:
            layer.bias.uniform_(-bound, bound, generator=generator)
    return layer.to(default_device())


class MLP(nn.Module):
    """Fully connected network ``[n_0, …, n_L]`` with activation ``activation`` between layers."""

    def __init__(
        self,
        width: list[int],
        activation: str = "tanh",
        bias: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_activation(activation, ACTIVATIONS, "activation")
        self.width = list(width)
        self.activation_name = activation
        self.activation = ACTIVATIONS[activation]
        self.layers = nn.ModuleList(
            linear(n_in, n_out, bias, generator) for n_in, n_out in zip(width[:-1], width[1:])
        )

    def extra_repr(self) -> str:
        return f"activation={self.activation_name}"

    def forward(self, x: Tensor) -> Tensor:
        """``(batch, n_0)`` -> ``(batch, n_L)``; another shape is a ValueError naming it."""
        check_network_input(x, self.width[0])
        for layer in self.layers[:-1]:
            x = self.activation.function(layer(x))
        return self.layers[-1](x)
