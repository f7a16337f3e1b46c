"""build_model: validation of names, widths and options; config round trip; option tables."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from pinnkan.nn import build_model, count_parameters, list_models, model_options
from pinnkan.nn.build import register_model

BAD_CALLS = [
    # (name, width, options, text the message must contain)
    ("resnet", [2, 1], {}, "'resnet'"),
    ("kan", [2, 1], {"grdi": 5}, "'grdi'"),
    ("kan", [2, 1], {"meta_hidden": 16}, "'meta_hidden'"),
    ("mlp", [2, 1], {"grid": 5}, "'grid'"),
    ("fastkan", [2, 1], {"k": 3}, "'k'"),
    ("wavkan", [2, 1], {"centers": 4}, "'centers'"),
    ("kan", [2, 1], {"clusters": 1}, "'clusters'"),
    ("kan", [3], {}, "[3]"),
    ("kan", [], {}, "[]"),
    ("kan", [2, 0, 1], {}, "0"),
    ("kan", [2, -3, 1], {}, "-3"),
    ("kan", [2, 3.5, 1], {}, "3.5"),
    ("kan", [2, True, 1], {}, "True"),
    ("kan", "2,3,1", {}, "'2,3,1'"),
    ("kan", 5, {}, "5"),
    ("kan", [2, 1], {"grid": 0}, "grid=0"),
    ("kan", [2, 1], {"grid": 2.5}, "grid=2.5"),
    ("kan", [2, 1], {"k": 0}, "k=0"),
    ("metakan", [2, 1], {"k": -1}, "k=-1"),
    ("metakan", [2, 3, 1], {"clusters": 3}, "clusters=3"),
    ("metakan", [2, 3, 1], {"clusters": 0}, "clusters=0"),
    ("kan", [2, 1], {"grid_range": (1.0, -1.0)}, "(1.0, -1.0)"),
    ("kan", [2, 1], {"grid_range": (0.0, 0.0)}, "(0.0, 0.0)"),
    ("kan", [2, 1], {"grid_range": (0.0, float("inf"))}, "inf"),
    ("kan", [2, 1], {"grid_range": (0.0, 1.0, 2.0)}, "(0.0, 1.0, 2.0)"),
    ("fastkan", [2, 1], {"grid_range": "wide"}, "'wide'"),
    ("fastkan", [2, 1], {"centers": 1}, "centers=1"),
    ("wavkan", [2, 1], {"wavelet": "haar"}, "'haar'"),
    ("metawavkan", [2, 1], {"wavelet": "gabor"}, "'gabor'"),
    ("mlp", [2, 1], {"activation": "relu6"}, "'relu6'"),
    ("mlp", [2, 1], {"bias": 1}, "bias=1"),
    ("metakan", [2, 1], {"meta_activation": "gelu"}, "'gelu'"),
    ("metakan", [2, 1], {"meta_hidden": 0}, "meta_hidden=0"),
    ("metakan", [2, 1], {"prompt_dim": 0}, "prompt_dim=0"),
    ("metakan", [2, 1], {"meta_bias": "yes"}, "'yes'"),
    ("metakan", [2, 1], {"meta_init": "xavier"}, "meta_init='xavier'"),
    ("metakan", [2, 1], {"meta_init": "centered", "meta_bias": False}, "meta_bias=false"),
    ("kan", [2, 1], {"meta_init": "centered"}, "'meta_init'"),
    ("metakan", [2, 1], {"node_mean": "yes"}, "'yes'"),
    ("kan", [2, 1], {"node_mean": True}, "'node_mean'"),
    # one edge per node is its own mean: dead prompts, a layer starting at 0
    ("metakan", [5, 1, 1], {"node_mean": True}, "width [5, 1, 1]: layer 1 has one input"),
    ("metakan", [1, 4, 1], {"node_mean": True}, "layer 0 has one input"),
    (["kan"], [2, 1], {}, "model ['kan'] is not known"),  # was TypeError: unhashable list
]


@pytest.mark.parametrize(("name", "width", "options", "named"), BAD_CALLS)
def test_bad_input_raises_value_error_naming_the_value(name, width, options, named) -> None:
    with pytest.raises(ValueError, match=re.escape(named)) as error:
        build_model(name, width, **options)
    message = str(error.value)
    assert "\n" not in message
    assert len(message) < 300


def test_numpy_values_are_taken_as_python_ones() -> None:
    """np.int64 sizes were taken but np.bool_ flags refused; both are stored as Python values."""
    model = build_model("kan", [np.int64(2), np.int64(3), 1], bias=np.bool_(True))
    assert model.config["bias"] is True and model.config["width"] == [2, 3, 1]
    json.dumps(model.config)  # plain data for the run file


def test_an_mlp_input_of_the_wrong_width_is_one_value_error() -> None:
    """A KAN named the shape; an MLP ended in torch's "mat1 and mat2 shapes cannot be
    multiplied"."""
    for name in ("mlp", "kan"):
        with pytest.raises(ValueError, match=r"input of shape \(4, 3\) .* takes \(batch, 2\)"):
            build_model(name, [2, 3, 1])(torch.zeros(4, 3))


def test_a_registered_model_may_have_options_of_its_own() -> None:
    """Options the built-in models lack were looked up in their checks: a bare KeyError."""
    from pinnkan.nn.build import MODELS, ModelSpec, bspline_family

    def family(in_features, options):
        assert options["stretch"] == 2.0  # passed through to the user's family
        return bspline_family(in_features, options)

    defaults = {**MODELS["kan"].defaults, "stretch": 1.0}
    register_model(ModelSpec("stretchkan", family, False, defaults, "test KAN"))
    try:
        model = build_model("stretchkan", [2, 3, 1], stretch=2.0)
        assert model.config["stretch"] == 2.0
    finally:
        del MODELS["stretchkan"]


def test_error_messages_say_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="allowed: .*metakan"):
        build_model("resnet", [2, 1])
    with pytest.raises(ValueError, match="mexican_hat"):
        build_model("wavkan", [2, 1], wavelet="haar")
    with pytest.raises(ValueError, match="tanh"):
        build_model("mlp", [2, 1], activation="relu6")
    with pytest.raises(ValueError, match="allowed: .*grid"):
        build_model("kan", [2, 1], meta_hidden=16)


def test_registering_a_name_twice_is_rejected() -> None:
    from pinnkan.nn.build import MODELS

    with pytest.raises(ValueError, match="'kan'"):
        register_model(MODELS["kan"])


@pytest.mark.parametrize(
    "name", ["mlp", "kan", "fastkan", "wavkan", "metakan", "metafastkan", "metawavkan"]
)
def test_config_round_trip_rebuilds_the_same_model(name: str) -> None:
    changed = {
        "mlp": {"activation": "sin", "bias": False},
        "kan": {"grid": 7, "k": 2, "grid_range": [-2, 3], "bias": True},
        "fastkan": {"centers": 5},
        "wavkan": {"wavelet": "dog"},
    }
    options = changed.get(name.removeprefix("meta"), {})
    if name.startswith("meta"):
        options = {**options, "meta_hidden": 9, "prompt_dim": 2, "clusters": 2, "meta_bias": False}
    model = build_model(name, [3, 5, 4, 2], **options)
    config = model.config
    assert config["name"] == name and config["width"] == [3, 5, 4, 2]
    assert set(config) == {"name", "width", *model_options(name)}
    for option, value in options.items():
        expected = tuple(float(v) for v in value) if option == "grid_range" else value
        assert config[option] == expected
    rebuilt = build_model(**config)
    assert rebuilt.config == config
    assert count_parameters(rebuilt) == count_parameters(model)
    shapes = [p.shape for p in model.parameters()]
    assert [p.shape for p in rebuilt.parameters()] == shapes


def test_config_is_not_shared_with_the_defaults() -> None:
    model = build_model("kan", [2, 1], grid=9)
    model.config["grid"] = 100
    assert model_options("kan")["grid"] == 5
    assert build_model("kan", [2, 1]).config["grid"] == 5


def test_model_options_lists_every_accepted_option() -> None:
    for name in list_models():
        defaults = model_options(name)
        build_model(name, [2, 3, 1], **defaults)  # every listed option is accepted with its default
        assert ("meta_hidden" in defaults) == name.startswith("meta")


def test_generator_is_used_and_global_rng_untouched() -> None:
    state = torch.random.get_rng_state()
    build_model("metakan", [3, 4, 1], generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_without_generator_the_global_seed_decides() -> None:
    torch.manual_seed(123)
    first = [p.detach().clone() for p in build_model("metafastkan", [3, 4, 1]).parameters()]
    torch.manual_seed(123)
    again = [p.detach() for p in build_model("metafastkan", [3, 4, 1]).parameters()]
    assert all(torch.equal(p, q) for p, q in zip(first, again, strict=True))


# --- integers of NumPy and torch; the generator -------------------------------------------------


def test_numpy_and_torch_integers_are_integers_and_stored_as_python_ints() -> None:
    """Sizes from ``np.arange`` or a table are accepted and stored as Python ints (run files
    hold the config as JSON); non-integers stay refused."""
    import json

    import numpy as np

    from pinnkan import Ball, laplacian
    from pinnkan.train_config import TrainConfig

    def built(width, **options):
        return build_model("metakan", width, torch.Generator().manual_seed(0), **options)

    reference = built([3, 4, 1], grid=5, meta_hidden=8)
    for width in ([np.int64(3), 4, 1], np.array([3, 4, 1]), torch.tensor([3, 4, 1])):
        model = built(width, grid=np.int64(5), meta_hidden=np.int32(8))
        assert model.config == reference.config
        assert all(type(n) is int for n in model.config["width"])
        assert type(model.config["grid"]) is int and type(model.config["meta_hidden"]) is int
        json.dumps(model.config)
        for mine, theirs in zip(model.parameters(), reference.parameters(), strict=True):
            assert torch.equal(mine, theirs)
    assert type(Ball(np.int64(3)).dim) is int
    x = torch.rand(5, 3, generator=torch.Generator().manual_seed(1))
    _, lap = laplacian(reference, x, "sdgd", samples=np.int64(3), chunk_size=np.int64(2))
    torch.testing.assert_close(lap, laplacian(reference, x)[1])  # 3 of 3 coordinates: exact
    config = TrainConfig(steps=np.int64(5), points=np.int32(20), lr=np.float32(0.5))
    assert (type(config.steps), type(config.points), type(config.lr)) == (int, int, float)
    json.dumps(config.to_dict())
    for bad in (5.0, True, np.float64(5.0), np.bool_(True), "5"):
        with pytest.raises(ValueError, match=re.escape(f"grid={bad!r} is not allowed")):
            built([3, 4, 1], grid=bad)


@pytest.mark.parametrize("generator", [5, "seed", torch.device("cpu")])
def test_a_generator_that_is_not_a_torch_generator_is_one_line(generator) -> None:
    with pytest.raises(ValueError) as caught:
        build_model("kan", [2, 3, 1], generator=generator)
    message = str(caught.value)
    assert "\n" not in message and f"generator={generator!r}" in message
    assert "torch.Generator" in message
