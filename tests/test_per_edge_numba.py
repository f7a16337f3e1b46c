"""The compiled per-edge contraction against ``torch.einsum``: values, gradients (first order by
the kernels, higher orders and batched gradients by the einsum), and where it must not run."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from pinnkan.basis import base
from pinnkan.kernels import torch_reference

pytest.importorskip("numba")
from pinnkan.basis.per_edge_numba import PerEdge  # noqa: E402


def operands(dtype=torch.float64, seed: int = 0, shape=(7, 5, 9), out: int = 4):
    generator = torch.Generator().manual_seed(seed)
    expansion = torch.randn(*shape, generator=generator, dtype=dtype).requires_grad_(True)
    coefficients = torch.randn(out, *shape[1:], generator=generator, dtype=dtype)
    return expansion, coefficients.requires_grad_(True)


def einsum(expansion: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    return torch.einsum("bim,oim->bio", expansion, coefficients)


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_values_and_gradients_equal_the_einsum(dtype: torch.dtype, tolerance: float) -> None:
    expansion, coefficients = operands(dtype, shape=(30, 12, 9), out=32)
    computed = PerEdge.apply(expansion, coefficients)
    expected = einsum(expansion, coefficients)
    assert computed.is_contiguous() and computed.shape == (30, 12, 32)
    assert_close(computed, expected, rtol=tolerance, atol=tolerance)
    grad = torch.randn(computed.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    for got, want in zip(
        torch.autograd.grad(computed, (expansion, coefficients), grad),
        torch.autograd.grad(expected, (expansion, coefficients), grad),
        strict=True,
    ):
        assert_close(got, want, rtol=tolerance, atol=tolerance)


def test_gradcheck_and_gradgradcheck() -> None:
    assert torch.autograd.gradcheck(PerEdge.apply, operands(), check_batched_grad=True)
    assert torch.autograd.gradgradcheck(PerEdge.apply, operands(seed=2))


@pytest.mark.parametrize("wanted", ["expansion", "coefficients"])
def test_only_the_wanted_gradient_is_formed(wanted: str) -> None:
    expansion, coefficients = operands(seed=3)
    inputs = {"expansion": expansion, "coefficients": coefficients}
    for name, tensor in inputs.items():
        tensor.requires_grad_(name == wanted)
    (grad,) = torch.autograd.grad(PerEdge.apply(expansion, coefficients).sum(), inputs[wanted])
    (expected,) = torch.autograd.grad(einsum(expansion, coefficients).sum(), inputs[wanted])
    assert_close(grad, expected)


def test_strided_operands() -> None:
    expansion, coefficients = operands(seed=4, shape=(9, 7, 5), out=6)
    strided_expansion = expansion.detach().transpose(0, 1).contiguous().transpose(0, 1)
    strided_coefficients = coefficients.detach().permute(1, 0, 2).contiguous().permute(1, 0, 2)
    assert not strided_expansion.is_contiguous() and not strided_coefficients.is_contiguous()
    assert_close(
        PerEdge.apply(strided_expansion, strided_coefficients), einsum(expansion, coefficients)
    )


def test_where_the_kernels_do_not_run() -> None:
    expansion, coefficients = operands(seed=5)
    assert base.use_per_edge_kernels(expansion, coefficients)
    with torch_reference():
        assert not base.use_per_edge_kernels(expansion, coefficients)
    assert not base.use_per_edge_kernels(expansion.half(), coefficients.half())
    assert not base.use_per_edge_kernels(expansion.float(), coefficients)  # mixed dtypes
    assert not base.use_per_edge_kernels(expansion.to("meta"), coefficients.to("meta"))
    assert not base.use_per_edge_kernels(expansion[..., :-1], coefficients)  # m does not fit
    assert not base.use_per_edge_kernels(expansion[0], coefficients)
    seen = []
    torch.func.vmap(lambda e: seen.append(base.use_per_edge_kernels(e[None], coefficients)) or e)(
        expansion
    )
    assert seen == [False]
    assert_close(base.per_edge(expansion, coefficients), einsum(expansion, coefficients))


def input_major(coefficients: torch.Tensor) -> torch.Tensor:
    """The same ``(out, in, m)`` values in ``(in, m, out)`` memory, as a MetaKAN generates them."""
    return coefficients.detach().permute(1, 2, 0).contiguous().permute(2, 0, 1).requires_grad_()


@pytest.mark.parametrize("product", ["contract", "per_edge"])
def test_input_major_coefficients_are_read_in_place_with_the_same_results(product: str) -> None:
    """Both coefficient layouts give the same values and gradients; the input-major one is read
    as a view (the matrix of ``contract`` and the kernels' wᵀ are views of its memory)."""
    expansion, coefficients = operands(shape=(11, 6, 9), out=5)
    permuted = input_major(coefficients)
    assert not permuted.is_contiguous() and permuted.permute(1, 2, 0).is_contiguous()
    assert base.coefficient_matrix(permuted).data_ptr() == permuted.data_ptr()
    assert base.coefficient_matrix(permuted).is_contiguous()
    operation = getattr(base, product)
    values = [operation(expansion, w) for w in (coefficients, permuted)]
    assert_close(values[0], values[1], rtol=1e-13, atol=1e-13)
    assert values[0].abs().max() > 0.1
    grad = torch.randn(
        values[0].shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64
    )
    contiguous_grads = torch.autograd.grad(values[0], (expansion, coefficients), grad)
    permuted_grads = torch.autograd.grad(values[1], (expansion, permuted), grad)
    for got, want in zip(permuted_grads, contiguous_grads, strict=True):
        assert_close(got, want, rtol=1e-13, atol=1e-13)
    assert permuted_grads[1].permute(1, 2, 0).is_contiguous()  # in the layout it arrived in


def test_cpu_models_work_when_the_default_device_is_another() -> None:
    """A CPU model's Laplacian step with torch's default device set elsewhere (``meta`` stands
    in for CUDA, as after ``torch.set_default_device("cuda")``): the kernel's output buffer was
    made on the default device and ``.numpy()`` failed."""
    import pinnkan

    for name in ("kan", "metakan", "fastkan"):
        model = pinnkan.build_model(name, [3, 4, 1], generator=torch.Generator().manual_seed(0))
        x = torch.rand(5, 3, generator=torch.Generator().manual_seed(1)) - 0.5
        expected = pinnkan.laplacian(model, x)[1]
        with torch.device("meta"):
            u, lap = pinnkan.laplacian(model, x)
            lap.pow(2).mean().backward()
        assert lap.device.type == "cpu"
        assert_close(lap, expected)
