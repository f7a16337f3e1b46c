"""``pinnkan.wording.counted``: "1 run", "2 runs", "1,000 steps" (printed "(1 runs)", "1 threads")."""

from pinnkan.wording import counted


def test_counted_uses_the_singular_only_for_one():
    assert counted(1, "run") == "1 run"
    assert [counted(n, "record") for n in (0, 2)] == ["0 records", "2 records"]
    assert counted(12_000, "step") == "12,000 steps"
    assert counted(3, "matrix", "matrices") == "3 matrices"
