"""Layer clustering for MetaKAN (the paper's Algorithm 2), made exact and contiguous.

Algorithm 2 runs k-means on the layers' output widths and gives cluster c the interval
``[min L_c, max L_c]``. When widths are not monotone in depth (a bottleneck), k-means labels are
not contiguous and those intervals overlap, so a layer would belong to two meta-learners.
Here we solve the problem the algorithm intends directly: split the layer sequence into C
contiguous segments minimising the k-means objective (within-segment sum of squared deviations
of the widths), by dynamic programming over split points (exact, O(C·L²)). For monotone widths,
the optimal 1-D k-means clusters are contiguous, so this returns the same partition as k-means.
"""

from __future__ import annotations

from collections.abc import Sequence


def segment_cost(values: Sequence[float], start: int, stop: int) -> float:
    """Σ (v − mean)² over ``values[start:stop]``."""
    segment = values[start:stop]
    mean = sum(segment) / len(segment)
    return sum((v - mean) ** 2 for v in segment)


def cluster_layers(widths: Sequence[int], clusters: int) -> list[int]:
    """Cluster label (0 … C−1, non-decreasing) of each layer.

    Args:
        widths: one width per layer (the paper uses each layer's output width).
        clusters: C, with 1 ≤ C ≤ len(widths).

    Ties are broken towards earlier split points, so the result is deterministic.
    """
    n = len(widths)
    if not 1 <= clusters <= n:
        raise ValueError(
            f"clusters={clusters} is not allowed; it must be between 1 and {n} (layers)"
        )
    values = [float(w) for w in widths]
    inf = float("inf")
    # best[c][i]: minimal cost of splitting values[:i] into c segments; split[c][i]: last start.
    best = [[inf] * (n + 1) for _ in range(clusters + 1)]
    split = [[0] * (n + 1) for _ in range(clusters + 1)]
    best[0][0] = 0.0
    for c in range(1, clusters + 1):
        for i in range(c, n + 1):
            for j in range(c - 1, i):
                cost = best[c - 1][j] + segment_cost(values, j, i)
                if cost < best[c][i] - 1e-12:
                    best[c][i], split[c][i] = cost, j
    labels = [0] * n
    stop = n
    for c in range(clusters, 0, -1):
        start = split[c][stop]
        labels[start:stop] = [c - 1] * (stop - start)
        stop = start
    return labels


def cluster_intervals(labels: Sequence[int]) -> list[tuple[int, int]]:
    """``[(l_start, l_end), …]`` (inclusive) for each cluster, as Algorithm 2 returns them."""
    intervals = []
    for c in sorted(set(labels)):
        members = [layer for layer, label in enumerate(labels) if label == c]
        intervals.append((min(members), max(members)))
    return intervals
