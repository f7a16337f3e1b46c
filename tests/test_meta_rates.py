"""``--prompt-lr`` and ``--meta-lr`` set the rates of a meta model's prompts and meta-learner:
given for another model they were silently ignored; now they are a one-line error (exit 2)
before anything is built or written. A preset's rates stay allowed for every model."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnkan.cli import get_args_parser, main
from pinnkan.commands import solve_spec
from pinnkan.nn.build import get_spec, list_models

META = [name for name in list_models() if get_spec(name).meta]
PLAIN = [name for name in list_models() if not get_spec(name).meta]


@pytest.mark.parametrize("model", PLAIN)
@pytest.mark.parametrize("flag", ["--prompt-lr", "--meta-lr"])
def test_a_meta_rate_for_a_plain_model_is_refused(tmp_path: Path, capsys, model, flag) -> None:
    out = tmp_path / "new" / "run.h5"
    argv = ["solve", "--problem", "poisson", "--dim", "2", "--model", model, flag, "0.05"]
    code = main([*argv, "--steps", "2", "--device", "cpu", "--quiet", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.strip() == (
        f"pinnkan: error: {flag} 0.05 applies only to meta models ({', '.join(META)}); "
        f"model '{model}' has no prompts or meta-learner, so leave it out"
    )
    assert not out.parent.exists()


def test_the_meta_models_are_the_projects_list() -> None:
    assert META == ["metakan", "metafastkan", "metawavkan"]


@pytest.mark.parametrize("model", META)
def test_a_meta_model_takes_the_rates(model) -> None:
    argv = ["solve", "--problem", "poisson", "--dim", "2", "--model", model]
    spec = solve_spec(
        get_args_parser().parse_args([*argv, "--prompt-lr", "0.05", "--meta-lr", "0.02"])
    )
    assert spec.train.prompt_lr == 0.05 and spec.train.meta_lr == 0.02


@pytest.mark.parametrize("preset", ["sdgd", "paper", "table8"])
def test_a_presets_prompt_rate_is_kept_for_a_plain_model(preset) -> None:
    """The presets set prompt_lr for every model; only the flag is refused."""
    argv = ["solve", "--problem", "poisson", "--dim", "2", "--model", "kan", "--preset", preset]
    assert solve_spec(get_args_parser().parse_args(argv)).train.prompt_lr == 0.03
