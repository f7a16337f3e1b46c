"""Compiled CPU kernels (numba) for the scalar ReLU meta-learner's pieces (``scalar_relu.py``).

Same mathematics as :func:`pinnkan.nn.scalar_relu.scalar_relu_blocks_reference`, for blocks of
prompts (a MetaKAN cluster's layers, E prompts in all), h hidden units and m outputs, block l
times a fixed factor s_l (the layer's 1/√n_l):

    y_e = s_l (S_{j(z_e)} z_e + T_{j(z_e)}),      j(z) = #{k : key_k < z},

with the pieces' slopes and intercepts S, T ``(h + 1, m)`` built in O(h·m) as a prefix sum over
the rising units and a suffix sum over the falling ones (no subtraction, so no cancellation),
and j(z) read from a fine bucket index over the prompts' range (O(1) per prompt unless many
keys crowd into one bucket) instead of a binary search per prompt. Backward, with
G = ∂L/∂y ``(E, m)``:

    ∂L/∂z_e = s_l ⟨G_e, S_j⟩,   ∂L/∂S_j = Σ_{e on j} s_l z_e G_e,   ∂L/∂T_j = Σ_{e on j} s_l G_e,

and, with D^S_k, D^T_k the sums of ∂L/∂S_j, ∂L/∂T_j over the pieces where unit k is active
(a suffix sum for a rising unit, a prefix sum for a falling one):

    ∂L/∂W_2[:, k] = w_k D^S_k + b_k D^T_k,   ∂L/∂w_k = ⟨D^S_k, W_2[:, k]⟩,
    ∂L/∂b_k = ⟨D^T_k, W_2[:, k]⟩,            ∂L/∂c = Σ_j ∂L/∂T_j.

Why: on the CPU the torch version of this computation is ~50 small operations whose fixed
costs dominate at the paper's sizes (E = 5,280, h = 128, m = 9); one kernel call each way
replaces them (``results/bench_meta_step.md`` has the timings). Everything is computed in
place on numpy views of the tensors, in the tensors' dtype except the backward's sums over
prompts (∂L/∂S, ∂L/∂T, their prefix and suffix sums, the node-mean sums), which run in
float64.

A layer's block ``w (out, in, m)`` is written input-major, into ``(in, m, out)`` memory
(:func:`generated`): the per-edge kernels read wᵀ in that layout and the layer's matrix product
reads it as the ``(in·m, out)`` matrix, both without a copy, and the engine's backward leaves
∂L/∂w in the same layout, which the backward kernel reads as it lies. (A contiguous w costs a
transposed copy per per-edge call and a layout copy of each gradient sum.)

This module imports numba; :mod:`pinnkan.nn.scalar_relu` imports it only when numba is
installed, and compiles the kernels on first use (seconds per dtype and m, then cached on disk
by numba).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from ..kernels import array
from ..numba_cache import cached_njit
from .scalar_relu import batched, scalar_relu_blocks_reference


@cached_njit()
def breakpoint_keys(w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sort keys ``(h,)`` as :func:`pinnkan.nn.scalar_relu.breakpoints`.

    Rising unit (w > 0, or w = 0 and b > 0 with key −∞): active iff key < z; falling unit
    (w < 0): key = the float just below −b/w, active iff key ≥ z; dead unit (w = 0, b ≤ 0): +∞.
    """
    keys = np.empty_like(w)
    for k in range(w.shape[0]):
        if w[k] != 0:
            keys[k] = -b[k] / w[k]
        else:
            keys[k] = -np.inf if b[k] > 0 else np.inf
    below = np.nextafter(keys, np.full_like(keys, -np.inf))  # in the keys' own precision
    for k in range(w.shape[0]):
        if w[k] < 0:
            keys[k] = below[k]
    return keys


@cached_njit(inline="always")
def rising(w: float, b: float) -> bool:
    """Whether a unit is active right of its key (w > 0, or a flat unit that is always on)."""
    return w > 0 or (w == 0 and b > 0)


@cached_njit()
def piece_tables(w, b, W2, c, order):
    """``S, T (h + 1, m)``: piece j's slopes and intercepts, ``order`` sorting the keys.

    S_j = Σ_{rising, rank < j} w_k W_2[:, k] + Σ_{falling, rank ≥ j} w_k W_2[:, k], T likewise
    with b_k, plus c.
    """
    h, m = w.shape[0], W2.shape[0]
    S = np.zeros((h + 1, m), w.dtype)
    T = np.zeros((h + 1, m), w.dtype)
    for j in range(1, h + 1):  # prefix sums of the rising units
        u = order[j - 1]
        on = rising(w[u], b[u])
        for o in range(m):
            S[j, o] = S[j - 1, o] + (w[u] * W2[o, u] if on else 0.0)
            T[j, o] = T[j - 1, o] + (b[u] * W2[o, u] if on else 0.0)
    slope = np.zeros(m, w.dtype)
    intercept = c.copy()
    for j in range(h, -1, -1):  # suffix sums of the falling units
        if j < h and w[order[j]] < 0:
            u = order[j]
            for o in range(m):
                slope[o] += w[u] * W2[o, u]
                intercept[o] += b[u] * W2[o, u]
        for o in range(m):
            S[j, o] += slope[o]
            T[j, o] += intercept[o]
    return S, T


@cached_njit()
def bucket_index(keys: np.ndarray, lo: float, hi: float):
    """``start (B + 1,)``, the number of keys left of each of B = 16·h + 1 buckets over
    [lo, hi], with the bucket width's inverse ``scale`` (0 for an empty or infinite range)."""
    h = keys.shape[0]
    buckets = 16 * h + 1
    scale = buckets / (hi - lo) if hi > lo else 0.0
    if not scale < np.inf:
        scale = 0.0
    start = np.empty(buckets + 1, np.int32)
    j = 0
    for bucket in range(buckets + 1):
        edge = lo + bucket / scale if scale > 0 else lo
        while j < h and keys[j] < edge:
            j += 1
        start[bucket] = j
    return start, scale


@cached_njit(inline="always")
def piece_of(v, keys, start, lo, scale) -> int:
    """``#{k : keys_k < v}``: the count left of v's bucket, then a scan over the (usually no)
    keys up to v and a check against the key below, exact whatever the rounding of the bucket
    arithmetic; the scan's branch is nearly always predicted, where a binary search per prompt
    costs ~5 times as much inside a training step."""
    buckets = start.shape[0] - 1
    q = (v - lo) * scale
    j = start[(buckets if q >= buckets else int(q)) if q >= 0 else 0]
    while j > 0 and keys[j - 1] >= v:
        j -= 1
    while j < keys.shape[0] and keys[j] < v:
        j += 1
    return j


@cached_njit()
def piece_rows(keys: np.ndarray, z: np.ndarray, rows: np.ndarray) -> None:
    """``rows[e] = #{k : keys_k < z_e}`` for sorted ``keys (h,)``, like ``searchsorted``."""
    lo, hi = np.inf, -np.inf
    for v in z:
        lo, hi = min(lo, v), max(hi, v)
    start, scale = bucket_index(keys, lo, hi)
    for e in range(z.shape[0]):
        rows[e] = piece_of(z[e], keys, start, lo, scale)


@cached_njit()
def input_sums(values):
    """Σ_i values[i] for ``values (in, m, nodes)``: ``(m, nodes)``, summed in float64."""
    inputs, m, nodes = values.shape
    total = np.zeros((m, nodes), np.float64)
    for i in range(inputs):
        for o in range(m):
            for a in range(nodes):
                total[o, a] += values[i, o, a]
    return total


@cached_njit()
def center_nodes(out, mean) -> None:
    """``out (in, m, nodes)`` ← w_ai − mean_i' w_ai' + mean_a, ``mean (nodes, m)``."""
    inputs, m, nodes = out.shape
    total = input_sums(out)
    for o in range(m):
        for a in range(nodes):
            total[o, a] = mean[a, o] - total[o, a] / inputs
    for i in range(inputs):
        for o in range(m):
            for a in range(nodes):
                out[i, o, a] += total[o, a]


@cached_njit()
def piece_setup(prompts, w, b, W2, c):
    """Everything :func:`generate` needs before the blocks: whether the meta-learner is finite
    (else nothing else is computed), the keys' sorting ``order (h,)``, the pieces' slopes and
    intercepts ``S, T (h + 1, m)``, the sorted keys and their bucket index over the prompts'
    range (``start``, ``lo``, ``scale``: :func:`piece_of`), and the number of prompts."""
    finite = np.isfinite(w).all() and np.isfinite(b).all()
    if not (finite and np.isfinite(W2).all() and np.isfinite(c).all()):
        empty = np.empty((0, 0), w.dtype)
        return False, np.empty(0, np.int64), empty, empty, w[:0], np.empty(0, np.int32), 0.0, 0.0, 0
    keys = breakpoint_keys(w, b)
    order = np.argsort(keys, kind="mergesort")
    S, T = piece_tables(w, b, W2, c, order)
    sorted_keys = keys[order]
    lo, hi, count = np.inf, -np.inf, 0
    for prompt in prompts:
        count += prompt.size
        for v in prompt.ravel():
            lo, hi = min(lo, v), max(hi, v)
    start, scale = bucket_index(sorted_keys, lo, hi)
    return True, order, S, T, sorted_keys, start, lo, scale, count


@functools.cache
def kernels_of_width(m: int):
    """``(generate, generate_backward)`` for meta-learners with m outputs, compiled with m as a
    constant: numba then unrolls the loops over the m outputs, which with the products kept in
    the data's dtype makes the forward about 1.3 and the backward about 1.6 times faster than
    with m as an argument (``results/bench_meta_step.md``). Each m compiles on first use (a few
    seconds per dtype) and is cached on disk by numba. (Numba's disk cache misses a compiled
    function that calls a closure, so these two call module-level functions only and hold their
    loops over the blocks themselves.)
    """

    @cached_njit()
    def generate(prompts, scales, w, b, W2, c, means, centered, outs):
        """``outs[l][i, :, a]`` ← s_l (S_j z_ai + T_j), j = j(z_ai), for the prompts
        ``prompts[l] (out_l, in_l)`` into ``outs[l] (in_l, m, out_l)``; if ``centered``, then
        each node's mean over its edges replaced by ``means[l] (out_l, m)``
        (:func:`center_nodes`). ``scales (L,)`` in the data's dtype.

        Returns whether it ran (False, with ``outs`` untouched, when a meta-learner parameter
        is NaN or infinite: the pieces then do not represent the MLP, whose outputs are NaN
        where 0·∞ or a NaN meets them, so the caller runs the torch reference), and for the
        backward ``rows (E,)`` (int32), j(z_ai) over all blocks in order (edge e = a·in_l + i
        within a block), the keys' sorting ``order (h,)`` and the slopes ``S (h + 1, m)``.
        """
        ran, order, S, T, keys, start, lo, scale, count = piece_setup(prompts, w, b, W2, c)
        rows = np.empty(count, np.int32)
        if not ran:
            return False, rows, order, S
        first = 0
        for block in range(len(prompts)):
            z, out, factor = prompts[block], outs[block], scales[block]
            nodes, inputs = z.shape
            for i in range(inputs):
                for a in range(nodes):
                    v = z[a, i]
                    j = piece_of(v, keys, start, lo, scale)
                    rows[first + a * inputs + i] = j
                    for o in range(m):
                        out[i, o, a] = factor * (S[j, o] * v + T[j, o])
            if centered:
                center_nodes(out, means[block])
            first += z.size
        return True, rows, order, S

    @cached_njit()
    def generate_backward(grads, prompts, scales, rows, order, S, w, b, W2, centered, dmeans, dz):
        """All gradients from ``grads[l] = ∂L/∂outs[l]``, each an ``(in, m, out)`` array, as
        :func:`generate` lays out its outputs: writes ``dz[l] (out_l, in_l)`` and returns
        ``dw, db (h,)``, ``dW2 (m, h)``, ``dc (m,)``; if ``centered``, also writes the node
        means' ``dmeans[l] (out, m)`` = Σ_i G_ai, and the generated coefficients get the
        centred ``G_ai − mean_i' G_ai'`` (the projection's adjoint).

        With g = s_l (G_ai − shift_a) (the shift only if centred), ``dz[a, i]`` ← ⟨g, S_j⟩ and
        ``dST (h + 1, 2m)`` gets Σ g z_ai (first m columns) and Σ g (last m) on each edge's
        piece j. The loop runs over in, then out, then m: each input's ``(m, out)`` slab is one
        run of memory. The products are in the data's dtype, their sums over prompts in float64.
        """
        dST = np.zeros((S.shape[0], 2 * m), np.float64)
        first = 0
        for block in range(len(grads)):
            G, z, factor, grad_z = grads[block], prompts[block], scales[block], dz[block]
            inputs, _, nodes = G.shape
            shift = node_gradients(G, dmeans[block]) if centered else np.zeros((m, nodes), G.dtype)
            zero = np.zeros(1, z.dtype)[0]  # the sum ⟨g, S_j⟩ in the data's dtype
            for i in range(inputs):
                for a in range(nodes):
                    j = rows[first + a * inputs + i]
                    v = z[a, i]
                    inner = zero
                    for o in range(m):
                        x = G[i, o, a]
                        if centered:
                            x -= shift[o, a]
                        g = factor * x
                        inner += g * S[j, o]
                        dST[j, o] += g * v
                        dST[j, m + o] += g
                    grad_z[a, i] = inner
            first += z.size
        dw, db = np.empty_like(w), np.empty_like(w)
        dW2, dc = np.empty_like(W2), np.empty(m, w.dtype)
        table_backward(dST[:, :m], dST[:, m:], order, w, b, W2, dw, db, dW2, dc)
        return dw, db, dW2, dc

    return generate, generate_backward


@cached_njit()
def node_gradients(G, dmean):
    """``dmean (out, m)`` ← Σ_i G[i, :, a]ᵀ for ``G (in, m, out)``; returns the mean over i
    ``(m, out)`` (summed in float64) in G's dtype."""
    inp, m, out = G.shape
    total = input_sums(G)
    for a in range(out):
        for o in range(m):
            dmean[a, o] = total[o, a]
    return (total / inp).astype(G.dtype)


@cached_njit()
def table_backward(dS, dT, order, w, b, W2, dw, db, dW2, dc) -> None:
    """The meta-learner's gradients from the pieces' ``∂L/∂S, ∂L/∂T (h + 1, m)``."""
    h, m = w.shape[0], W2.shape[0]
    total = np.zeros(m, np.float64)
    for j in range(h + 1):
        for o in range(m):
            total[o] += dT[j, o]
    dc[:] = total
    below_s, below_t = np.zeros(m, np.float64), np.zeros(m, np.float64)
    for r in range(h):  # falling unit of rank r: pieces j ≤ r
        for o in range(m):
            below_s[o] += dS[r, o]
            below_t[o] += dT[r, o]
        if w[order[r]] < 0:
            unit_gradients(order[r], below_s, below_t, w, b, W2, dw, db, dW2)
    above_s, above_t = np.zeros(m, np.float64), np.zeros(m, np.float64)
    for r in range(h - 1, -1, -1):  # rising unit of rank r: pieces j > r
        for o in range(m):
            above_s[o] += dS[r + 1, o]
            above_t[o] += dT[r + 1, o]
        u = order[r]
        if rising(w[u], b[u]):
            unit_gradients(u, above_s, above_t, w, b, W2, dw, db, dW2)
        elif w[u] == 0:  # dead unit
            dw[u], db[u] = 0.0, 0.0
            dW2[:, u] = 0.0


@cached_njit(inline="always")
def unit_gradients(u, DS, DT, w, b, W2, dw, db, dW2) -> None:
    """Unit u's gradients from D^S_u, D^T_u, the sums over the pieces where it is active."""
    slope, intercept = 0.0, 0.0
    for o in range(W2.shape[0]):
        dW2[o, u] = w[u] * DS[o] + b[u] * DT[o]
        slope += DS[o] * W2[o, u]
        intercept += DT[o] * W2[o, u]
    dw[u], db[u] = slope, intercept


def edge_grid(shape: torch.Size) -> tuple[int, int]:
    """A block of prompts ``(out, in, 1)`` as its ``(out, in)`` edges; any other ``(..., 1)``
    as ``(1, E)``, so that its ``(E, m, 1)`` storage is the row-major ``(..., m)``."""
    return (shape[0], shape[1]) if len(shape) == 3 else (1, shape[:-1].numel())


def generated(shape: torch.Size, m: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Storage ``(in, m, out)`` for a block of prompts ``shape`` and the block's coefficients
    ``(out, in, m)`` (or ``(..., m)``) viewing it: input-major, the layout the per-edge kernels
    and the layer's matrix products read without a copy (:func:`pinnkan.basis.base.per_edge`)."""
    nodes, inputs = edge_grid(shape)
    storage = torch.empty(inputs, m, nodes, dtype=dtype, device="cpu")
    if len(shape) == 3:
        return storage, storage.permute(2, 0, 1)
    return storage, storage.view(*shape[:-1], m)


def input_major(G: Tensor) -> np.ndarray:
    """A gradient of :func:`generated` coefficients as the C-contiguous ``(in, m, out)`` array
    the backward kernel reads: a view for the layout the engine's backward leaves, else a copy."""
    grid = G.numpy(force=True)
    grid = grid.transpose(1, 2, 0) if grid.ndim == 3 else grid.reshape(-1, grid.shape[-1], 1)
    return grid if grid.flags.c_contiguous else np.ascontiguousarray(grid)


class ScalarReluBlocks(torch.autograd.Function):
    """``(W1 (h, 1), b (h,), W2 (m, h), c (m,), scales, *z_l (..., 1)[, *a_l (out_l, m)])`` ->
    ``s_l M(z_l) (..., m)``, node-centred on the means a_l where they are given (then
    ``z_l (out_l, in_l, 1)``, see :func:`pinnkan.nn.scalar_relu.node_centered`).

    One call per meta-learner for all its blocks (layers) of prompts, each output block times
    its fixed factor ``scales[l]`` (floats, not differentiated). A block ``(out, in, m)`` is a
    view of input-major storage (:func:`generated`). The torch reference runs instead where
    the kernels would be wrong or cannot run: forward, for a NaN or infinite meta-learner
    parameter; backward, for one that must itself be differentiable (``create_graph``: higher
    derivatives stay exact) and for batched upstream gradients (``is_grads_batched``,
    ``torch.func`` transforms around the backward).
    """

    @staticmethod
    def forward(ctx, W1, b, W2, c, scales, *tensors):
        prompts, means = tensors[: len(scales)], tensors[len(scales) :]
        m = W2.shape[0]
        storages, outs = zip(*(generated(z.shape, m, z.dtype) for z in prompts), strict=True)
        grids = tuple(array(z).reshape(edge_grid(z.shape)) for z in prompts)
        learner = (array(W1).reshape(-1), array(b), array(W2), array(c))
        factors = np.array(scales, learner[2].dtype)
        nodes = tuple(map(array, means)) or empty_means(len(prompts), m, learner[2].dtype)
        targets = tuple(storage.numpy() for storage in storages)
        generate = kernels_of_width(m)[0]
        ran, rows, order, slopes = generate(grids, factors, *learner, nodes, bool(means), targets)
        pieces = [torch.from_numpy(a) for a in (rows, order, slopes)]  # counted as saved memory
        ctx.save_for_backward(W1, b, W2, c, *pieces, *tensors)
        ctx.scales, ctx.arrays, ctx.compiled = scales, (grids, factors, learner), ran
        if not ran:  # a NaN or infinite parameter: the torch reference propagates it as the MLP
            return tuple(scalar_relu_blocks_reference(prompts, scales, W1, b, W2, c, means))
        return outs

    @staticmethod
    def backward(ctx, *grads):
        if torch.is_grad_enabled() or not ctx.compiled or any_batched(grads):
            return reference_backward(ctx, grads)
        W1, b, W2, c, rows, order, slopes, *tensors = ctx.saved_tensors  # checks in-place changes
        prompts, means = tensors[: len(ctx.scales)], tensors[len(ctx.scales) :]
        grids, factors, (w, bias, W2_array, _) = ctx.arrays
        dprompts = [torch.empty_like(z, memory_format=torch.contiguous_format) for z in prompts]
        dmeans = [torch.empty_like(mean, memory_format=torch.contiguous_format) for mean in means]
        m = W2_array.shape[0]
        targets = tuple(dm.numpy() for dm in dmeans) or empty_means(len(prompts), m, w.dtype)
        generate_backward = kernels_of_width(m)[1]
        dW1, db, dW2, dc = generate_backward(
            tuple(map(input_major, grads)), grids, factors, rows.numpy(), order.numpy(), slopes.numpy(), w, bias, W2_array,
            bool(means), targets,
            tuple(dp.numpy().reshape(grid.shape) for dp, grid in zip(dprompts, grids, strict=True)),
        )  # fmt: skip
        dW1, db, dW2, dc = (torch.from_numpy(g) for g in (dW1, db, dW2, dc))
        return dW1.view(W1.shape), db, dW2, dc, None, *dprompts, *dmeans


def any_batched(grads: tuple[Tensor, ...]) -> bool:
    """Whether any upstream gradient is batched (:func:`pinnkan.kernels.batched`)."""
    return any(map(batched, grads))


def empty_means(blocks: int, m: int, dtype: np.dtype) -> tuple[np.ndarray, ...]:
    """Stand-ins ``(0, m)`` for the node means of blocks without them (one compiled signature)."""
    return tuple(np.empty((0, m), dtype) for _ in range(blocks))


def reference_backward(ctx, grads: tuple[Tensor, ...]) -> tuple[Tensor | None, ...]:
    """The gradients through the torch reference, as a differentiable graph."""
    W1, b, W2, c, _, _, _, *tensors = ctx.saved_tensors
    prompts, means = tensors[: len(ctx.scales)], tensors[len(ctx.scales) :]
    inputs = (W1, b, W2, c, *tensors)
    needed = ctx.needs_input_grad[:4] + ctx.needs_input_grad[5:]
    wanted = [tensor for tensor, need in zip(inputs, needed, strict=True) if need]
    with torch.enable_grad():
        values = scalar_relu_blocks_reference(prompts, ctx.scales, W1, b, W2, c, means)
        found = iter(
            torch.autograd.grad(values, wanted, grads, create_graph=True, allow_unused=True)
        )
    result = [next(found) if need else None for need in needed]
    return *result[:4], None, *result[4:]
