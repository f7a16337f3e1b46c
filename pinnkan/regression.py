"""Supervised fitting problems: a target f: box ⊂ R^d -> R sampled uniformly.

A :class:`Regression` knows its variables, the box ``Π_i [lower_i, upper_i]`` each variable is
drawn from, and the target ``f``. ``dataset(...)`` draws seeded train and test sets
``(x, f(x))``; with ``normalize=True`` the inputs are mapped affinely onto ``[-1, 1]^d``

    z_i = 2 (x_i − lower_i) / (upper_i − lower_i) − 1,

and the map is kept in the returned :class:`RegressionData` so that a model trained on ``z``
can be evaluated on raw points (``data.model_inputs(x)``).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .device import default_device, sampling_device
from .run_failure import error_summary, is_out_of_memory
from .validation import check_bool, check_int, check_range, check_seed


@dataclass(frozen=True)
class BoxNormalization:
    """Affine map of the box ``Π_i [lower_i, upper_i]`` onto ``[-1, 1]^d`` and its inverse."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]

    def _bounds(self, like: Tensor) -> tuple[Tensor, Tensor]:
        lower = torch.tensor(self.lower, dtype=like.dtype, device=like.device)
        upper = torch.tensor(self.upper, dtype=like.dtype, device=like.device)
        return lower, upper

    def apply(self, x: Tensor) -> Tensor:
        """Raw points ``(n, d)`` -> normalised points ``(n, d)`` in ``[-1, 1]^d``."""
        lower, upper = self._bounds(x)
        return 2.0 * (x - lower) / (upper - lower) - 1.0

    def invert(self, z: Tensor) -> Tensor:
        """Normalised points ``(n, d)`` -> raw points ``(n, d)``: x = lower + (z + 1)(upper − lower)/2."""
        lower, upper = self._bounds(z)
        return lower + 0.5 * (z + 1.0) * (upper - lower)

    def config(self) -> dict[str, Any]:
        return {"lower": list(self.lower), "upper": list(self.upper)}


def network_inputs(x: Tensor, normalization: dict[str, Any] | None) -> Tensor:
    """Raw points ``(n, d)`` as the network of a run saw them: mapped by the run's stored box
    map (``config["normalization"]``, :meth:`BoxNormalization.config`), unchanged without one."""
    if normalization is None:
        return x
    box = BoxNormalization(tuple(normalization["lower"]), tuple(normalization["upper"]))
    return box.apply(x)


@dataclass(frozen=True, eq=False)
class RegressionData:
    """Seeded train / test sets: ``x_* (n, d)`` (normalised when ``normalization`` is set), ``y_* (n,)``.

    ``y`` is always the target at the raw points. ``normalization`` is None for raw inputs.
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    normalization: BoxNormalization | None

    def model_inputs(self, x: Tensor) -> Tensor:
        """Raw points ``(n, d)`` -> the inputs a model fitted on this data expects ``(n, d)``."""
        return x if self.normalization is None else self.normalization.apply(x)

    def raw_inputs(self, x: Tensor) -> Tensor:
        """Model inputs ``(n, d)`` (e.g. ``x_test``) -> the raw points they stand for ``(n, d)``."""
        return x if self.normalization is None else self.normalization.invert(x)


def _check_dtype(dtype: torch.dtype | None) -> torch.dtype:
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype={dtype!r} is not allowed; it must be a floating torch.dtype")
    return dtype


class Regression(abc.ABC):
    """A fitting problem y = f(x) with x uniform in ``Π_i [lower_i, upper_i]``.

    Subclasses call ``super().__init__(name, variables, ranges)`` and implement :meth:`target`.
    Attributes: ``name``, ``dim = len(variables)``, ``variables``, ``ranges``.
    """

    def __init__(self, name: str, variables: list[str], ranges: list[tuple[float, float]]) -> None:
        if not variables:
            raise ValueError(f"variables={variables!r} is not allowed; give at least one name")
        if len(ranges) != len(variables):
            raise ValueError(
                f"ranges has {len(ranges)} entries for {len(variables)} variables; give one each"
            )
        for variable, interval in zip(variables, ranges):
            check_range(f"range of {variable}", interval)
        self.name = name
        self.variables = list(variables)
        self.ranges = [(float(lower), float(upper)) for lower, upper in ranges]
        self.dim = len(self.variables)

    @abc.abstractmethod
    def target(self, x: Tensor) -> Tensor:
        """f evaluated at raw points ``x (n, dim)`` -> ``(n,)``, same dtype and device as x."""

    def checked_target(self, x: Tensor) -> Tensor:
        """:meth:`target` at ``x (n, dim)``, which must be a tensor ``(n,)`` of finite values: a
        ``(n, 1)`` target would broadcast the loss to ``n × n`` and train on it, a NaN would end
        the fit as "diverged"; either is one ``ValueError`` line naming the problem."""
        n = x.shape[0]
        try:
            values = self.target(x)
        except Exception as error:  # a bug in a user's target (any type): one line naming where
            if is_out_of_memory(error):
                raise
            raise ValueError(
                f"problem {self.name!r} raised {error_summary(error)} when its targets were "
                "computed, before training (--debug shows the traceback)"
            ) from error
        if not isinstance(values, Tensor) or tuple(values.shape) != (n,):
            shape = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
            raise ValueError(
                f"problem {self.name!r}: target returned {shape} at {n} points; a tensor of "
                f"shape ({n},) is expected (one value per point)"
            )
        bad = int((~torch.isfinite(values)).sum())
        if bad:
            raise ValueError(
                f"problem {self.name!r}: target is not finite (NaN or inf) at {bad} of {n} "
                "points of its box; give ranges where f is defined"
            )
        return values

    def box(self) -> BoxNormalization:
        """The sampling box as the affine map onto ``[-1, 1]^dim``."""
        lower, upper = zip(*self.ranges)
        return BoxNormalization(tuple(lower), tuple(upper))

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """``n`` points ``(n, dim)`` uniform in the box: x_i = lower_i + U(0,1)(upper_i − lower_i).

        Draws on the generator's device, then moves to ``device`` (default: torch's default
        device, the CPU unless changed).
        """
        check_int("n", n, 1)
        dtype = _check_dtype(dtype)
        draw_device = sampling_device(generator, device)
        unit = torch.rand(n, self.dim, generator=generator, device=draw_device, dtype=dtype)
        return self.box().invert(2.0 * unit - 1.0).to(device or default_device())

    def dataset(
        self,
        n_train: int = 1000,
        n_test: int = 1000,
        seed: int = 0,
        normalize: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> RegressionData:
        """Train and test sets from one seeded CPU generator, computed in float64 then cast.

        The same seed gives the same sets on every device and dtype (up to rounding).
        """
        check_int("n_train", n_train, 1)
        check_int("n_test", n_test, 1)
        check_seed("seed", seed)
        check_bool("normalize", normalize)
        dtype = _check_dtype(dtype)
        generator = torch.Generator().manual_seed(seed)
        x_train = self.sample(n_train, generator=generator, dtype=torch.float64)
        x_test = self.sample(n_test, generator=generator, dtype=torch.float64)
        y_train, y_test = self.checked_target(x_train), self.checked_target(x_test)
        normalization = self.box() if normalize else None
        if normalization is not None:
            x_train, x_test = normalization.apply(x_train), normalization.apply(x_test)

        def cast(tensor: Tensor) -> Tensor:
            return tensor.to(device=device, dtype=dtype)

        return RegressionData(
            cast(x_train), cast(y_train), cast(x_test), cast(y_test), normalization
        )

    def config(self) -> dict[str, Any]:
        """Plain data describing the problem, for run files."""
        return {
            "name": self.name,
            "dim": self.dim,
            "variables": list(self.variables),
            "ranges": [list(interval) for interval in self.ranges],
        }


@dataclass(frozen=True)
class TargetScaling:
    """Predictions ŷ = shift + scale · N(x): (0, 1), or with ``standardize`` the mean and
    standard deviation of the training targets (the network then fits standardised targets)."""

    shift: float = 0.0
    scale: float = 1.0

    @classmethod
    def of(cls, y: Tensor, standardize: bool) -> TargetScaling:
        """(0, 1), or with ``standardize`` the mean and standard deviation (1 when the targets
        are constant) of ``y (n,)``; the latter needs n ≥ 2."""
        if not standardize:
            return cls()
        if y.numel() < 2:
            raise ValueError(f"standardize=True needs at least 2 training targets; got {y.numel()}")
        return cls(float(y.mean()), float(y.std()) or 1.0)

    def __call__(self, output: Tensor) -> Tensor:
        return self.shift + self.scale * output

    def config(self) -> dict[str, float]:
        return {"shift": self.shift, "scale": self.scale}
