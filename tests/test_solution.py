"""``pinnkan.restore_solution``: the function a run learned, rebuilt from its file, gives the
stored predictions at the stored test points, for every kind of run; ``restore_model`` alone
(the bare backbone) does not under the hard constraint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pinnkan
from pinnkan.fit import FitConfig, fit

TINY = {"steps": 5, "points": 16, "test_points": 64, "eval_every": 5}


def stored_and_restored(run: pinnkan.Run, restored: torch.nn.Module) -> tuple[np.ndarray, ...]:
    x = torch.from_numpy(run.test_set["x"])
    with torch.no_grad():
        values = restored(x.to(next(restored.parameters()).dtype)).squeeze(-1).double().numpy()
    return np.asarray(run.test_set["prediction"]).reshape(-1), values


@pytest.mark.parametrize(("constraint", "radius"), [("hard", 1.0), ("soft", 1.0), ("hard", 2.0)])
def test_a_pde_run_is_restored_as_it_was_evaluated(tmp_path, constraint, radius):
    spec = pinnkan.SolveSpec(
        problem="poisson",
        problem_options={"dim": 3},
        model="kan",
        width=[3, 4, 1],
        train=pinnkan.TrainConfig(constraint=constraint, **TINY),
        dtype="float64",
    )
    out = tmp_path / "run.h5"
    pinnkan.solve_pde(spec, str(out))
    run = pinnkan.read_run(out)
    stored, restored = stored_and_restored(run, pinnkan.restore_solution(run, radius=radius))
    if radius == 1.0:
        np.testing.assert_allclose(restored, stored, rtol=0, atol=1e-12)
    else:  # another R is another map: the radius given is the one used
        assert np.abs(restored - stored).max() > 1e-3
    backbone = stored_and_restored(run, pinnkan.restore_model(run))[1]
    if constraint == "hard":  # the documented reader gave N(x), not (1 − |x|²)·N(x)
        assert np.abs(backbone - stored).max() > 1e-3
    else:
        np.testing.assert_allclose(backbone, stored, rtol=0, atol=1e-12)


def test_a_normalised_standardised_fit_is_restored_at_raw_points(tmp_path):
    config = FitConfig(
        problem="feynman:I.6.20a",  # θ ∈ [-3, 3]: the map onto [-1, 1] is not the identity
        model="kan",
        width=[1, 3, 1],
        steps=3,
        train_points=64,
        test_points=32,
        normalize=True,
        standardize=True,
    )
    out = tmp_path / "fit.h5"
    fit(config, str(out))
    run = pinnkan.read_run(out)
    assert run.config["target_scaling"]["scale"] != 1.0 and run.config["normalization"]
    stored_x = np.asarray(run.test_set["x"])
    assert np.abs(stored_x).max() > 1.5  # raw points, beyond the network's [-1, 1]
    stored, restored = stored_and_restored(run, pinnkan.restore_solution(run))
    np.testing.assert_allclose(restored, stored, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"train": {"stepz": 3}}, "train option 'stepz' is not known; allowed: alpha"),
        ({"train": 5}, "train=5 is not allowed; give a TrainConfig or a dict"),
        ({"width": "abc"}, "width='abc' is not allowed; give a list"),
        ({"problem": 3}, "problem=3 is not allowed; give a problem's name"),
        ({"problem_options": [("dim", 3)]}, "problem_options=.* is not allowed; give a dict"),
        ({"device": None}, "device=None is not allowed; give 'auto', 'cpu'"),  # AttributeError
        ({"dtype": 64}, "dtype=64 is not allowed; give 'float32' or 'float64'"),
    ],
)
def test_a_solve_spec_checks_its_fields_when_made(fields, message):
    """``train={...}`` ended in "'dict' object has no attribute 'laplacian'", a string width in
    "width=abc starts with a", a PDE object in "problem name <…> is not allowed"."""
    with pytest.raises(ValueError, match=message):
        pinnkan.SolveSpec(**{"problem": "poisson", **fields})


def test_a_solve_spec_takes_a_dict_of_train_options_and_torch_types():
    spec = pinnkan.SolveSpec(
        "poisson", train={"steps": 3}, dtype=torch.float64, device=torch.device("cpu")
    )
    assert spec.train == pinnkan.TrainConfig(steps=3)
    assert (spec.dtype, spec.device) == ("float64", "cpu")
