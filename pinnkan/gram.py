"""Jacobian or Gram: which first-order information the forward engine carries, and at what cost.

Through the layers the forward engine (:mod:`pinnkan.forward_laplacian`) carries either the
directional derivatives ``J (K, n)`` per point or their Gram matrix ``G = w Jᵀ J (n, n)``,
whose propagation cost does not depend on the number of directions K. :func:`plan_cost` counts
the multiply-adds of each plan and :func:`gram_plan` picks the cheapest; the products that form
and carry G are :mod:`pinnkan.gram_products`.
"""

from __future__ import annotations

REPRESENTATIONS = ("auto", "jacobian", "gram")


def plan_cost(width: list[int], count: int, shared_first: bool, switch: int) -> int:
    """Multiply-adds per point to carry J for hidden outputs l < ``switch`` and G from it on.

    Per hidden output l (width n) feeding hidden output l + 1 (width n'): the squared norms
    K n (J only), the switch K n² (free when the first J is shared by all points) and the
    propagation K n n' (J) or n n' (n + n') (G); into the last hidden output, which needs only
    diag G, it is K n n' + K n' (J) or n n' (n + 1) (G).
    """
    layers = len(width) - 1
    cost = 0
    for hidden in range(1, layers - 1):
        n, n_next = width[hidden], width[hidden + 1]
        diagonal_only = hidden + 1 == layers - 1
        if hidden < switch:
            cost += count * n + count * n * n_next + (count * n_next if diagonal_only else 0)
            continue
        if hidden == switch and not (shared_first and hidden == 1):
            cost += count * n * n
        cost += n * n * n_next + n * n_next * (1 if diagonal_only else n_next)
    return cost


def gram_plan(
    width: list[int], count: int, shared_first: bool = False, representation: str = "auto"
) -> list[bool]:
    """For each hidden output l = 1 … L−1: carry G (True) or J (False), the cheaper plan.

    The last hidden output carries only diag G, so switching there is never chosen.
    ``representation`` "jacobian" or "gram" forces one representation everywhere.
    """
    if representation not in REPRESENTATIONS:
        allowed = ", ".join(REPRESENTATIONS)
        raise ValueError(f"representation={representation!r} is not known; allowed: {allowed}")
    hidden = len(width) - 2
    if representation != "auto":
        return [representation == "gram"] * hidden
    switches = range(1, max(hidden, 1) + 1)  # the last, ``hidden``, means: never switch
    best = min(switches, key=lambda s: (plan_cost(width, count, shared_first, s), -s))
    return [output >= best and output < hidden for output in range(1, hidden + 1)]
