"""Layer clustering (Algorithm 2 made contiguous and exact) and MetaKAN's C meta-learners."""

from __future__ import annotations

import itertools
import random

import pytest

from pinnkan.nn import build_model, cluster_intervals, cluster_layers, count_parameters

PAPER_WIDTHS = [2, 64, 128, 512, 1024, 1024, 1024, 1024]


def within_cost(values: list[float], labels: list[int]) -> float:
    """k-means objective: Σ_c Σ_{l ∈ c} (v_l − mean_c)²."""
    cost = 0.0
    for label in set(labels):
        members = [v for v, c in zip(values, labels) if c == label]
        mean = sum(members) / len(members)
        cost += sum((v - mean) ** 2 for v in members)
    return cost


def contiguous_segmentations(n: int, clusters: int):
    """Every labelling of n layers into ``clusters`` non-empty contiguous segments."""
    for cuts in itertools.combinations(range(1, n), clusters - 1):
        bounds = (0, *cuts, n)
        yield [c for c in range(clusters) for _ in range(bounds[c], bounds[c + 1])]


def all_partitions(n: int, clusters: int):
    """Every labelling of n items into exactly ``clusters`` non-empty groups (any order)."""
    for labels in itertools.product(range(clusters), repeat=n):
        if len(set(labels)) == clusters and labels[0] == 0:
            yield list(labels)


def assert_contiguous_and_ordered(labels: list[int], clusters: int) -> None:
    assert labels[0] == 0 and labels[-1] == clusters - 1
    assert all(b - a in (0, 1) for a, b in zip(labels, labels[1:]))  # non-decreasing, no gaps
    assert sorted(set(labels)) == list(range(clusters))


@pytest.mark.parametrize("clusters", range(1, 9))
def test_paper_widths_give_contiguous_optimal_clusters(clusters: int) -> None:
    labels = cluster_layers(PAPER_WIDTHS, clusters)
    assert len(labels) == len(PAPER_WIDTHS)
    assert_contiguous_and_ordered(labels, clusters)
    best = min(within_cost(PAPER_WIDTHS, s) for s in contiguous_segmentations(8, clusters))
    assert within_cost(PAPER_WIDTHS, labels) == pytest.approx(best, abs=1e-9)
    intervals = cluster_intervals(labels)
    assert intervals[0][0] == 0 and intervals[-1][1] == 7
    assert all(a[1] + 1 == b[0] for a, b in zip(intervals, intervals[1:]))


def test_paper_widths_extreme_cluster_counts() -> None:
    assert cluster_layers(PAPER_WIDTHS, 1) == [0] * 8
    assert cluster_layers(PAPER_WIDTHS, 8) == list(range(8))
    # with 5 clusters the four 1024-wide layers share one meta-learner (zero within-cost)
    assert cluster_layers(PAPER_WIDTHS, 5) == [0, 1, 2, 3, 4, 4, 4, 4]
    assert cluster_intervals([0, 1, 2, 3, 4, 4, 4, 4])[-1] == (4, 7)


@pytest.mark.parametrize("seed", range(12))
def test_matches_brute_force_contiguous_segmentation(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 7)
    widths = [rng.choice([1, 2, 3, 8, 16, 32, 100]) for _ in range(n)]
    for clusters in range(1, n + 1):
        labels = cluster_layers(widths, clusters)
        assert_contiguous_and_ordered(labels, clusters)
        best = min(within_cost(widths, s) for s in contiguous_segmentations(n, clusters))
        assert within_cost(widths, labels) == pytest.approx(best, abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_monotone_widths_reach_the_unconstrained_k_means_optimum(seed: int) -> None:
    """For sorted widths, the best contiguous split is the best of all partitions (1-D k-means)."""
    rng = random.Random(100 + seed)
    widths = sorted(rng.randint(1, 64) for _ in range(rng.randint(2, 7)))
    for clusters in range(1, len(widths) + 1):
        labels = cluster_layers(widths, clusters)
        best = min(within_cost(widths, p) for p in all_partitions(len(widths), clusters))
        assert within_cost(widths, labels) == pytest.approx(best, abs=1e-9)


def test_bottleneck_widths_stay_contiguous() -> None:
    """Unsorted widths: k-means would group layers 0 and 4; contiguous clusters never do."""
    widths = [512, 16, 16, 16, 512]
    labels = cluster_layers(widths, 2)
    assert_contiguous_and_ordered(labels, 2)
    assert labels in ([0, 1, 1, 1, 1], [0, 0, 0, 0, 1])


@pytest.mark.parametrize(("widths", "clusters"), [([4, 4], 3), ([8], 2), ([1, 2, 3], 0), ([5], -1)])
def test_invalid_cluster_count_raises(widths: list[int], clusters: int) -> None:
    with pytest.raises(ValueError, match=f"clusters={clusters}"):
        cluster_layers(widths, clusters)


@pytest.mark.parametrize("clusters", [1, 2, 3, 4])
def test_metakan_has_one_meta_learner_per_cluster(clusters: int) -> None:
    width = [3, 8, 16, 16, 2]
    hidden, m = 6, 5 + 3 + 1
    model = build_model("metakan", width, meta_hidden=hidden, clusters=clusters)
    source = model.coefficients
    assert len(source.meta_learners) == clusters
    assert source.labels == cluster_layers(width[1:], clusters)
    edges = sum(a * b for a, b in zip(width[:-1], width[1:]))
    learner = hidden + hidden * m + hidden + m
    assert count_parameters(model) == edges + clusters * learner
    coefficients = source()
    for layer, (weight, label) in enumerate(zip(coefficients, source.labels)):
        prompt = source.prompts[layer]
        expected = source.meta_learners[label](prompt) / width[layer] ** 0.5
        assert weight.shape == (width[layer + 1], width[layer], m)
        assert (weight - expected).abs().max() < 1e-6


def test_metakan_rejects_more_clusters_than_layers() -> None:
    with pytest.raises(ValueError, match="clusters=4"):
        build_model("metakan", [3, 8, 8, 1], clusters=4)


def test_ties_go_to_the_earlier_split_point() -> None:
    """[1, 2, 3] into two groups costs ½ whether 2 joins 1 or 3: the documented rule keeps the
    earlier split, [1] | [2, 3]; likewise [4] | [8, 8, 4] before [4, 8, 8] | [4]."""
    assert cluster_layers([1, 2, 3], 2) == [0, 1, 1]
    assert cluster_layers([4, 8, 8, 4], 2) == [0, 1, 1, 1]
