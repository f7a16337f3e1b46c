"""The problem registry: ``get_problem(name, **options)`` for built-in and user problems.

Names:

- ``"poisson"``, ``"allen_cahn"``, ``"sine_gordon"`` (hyphens accepted: ``"allen-cahn"``) —
  a factory registered under that name, called with ``**options`` (e.g. ``dim=20, seed=0``);
- ``"prefix:variant"`` (e.g. ``"feynman:I.12.5"``) — the factory of ``prefix`` called with
  ``variant="I.12.5"`` and ``**options``;
- ``"path/to/file.py:ClassName"`` — a user file, loaded by path; the class (a subclass of
  :class:`pinnkan.problem.PDE` or :class:`pinnkan.regression.Regression`) is instantiated
  with ``**options``.

Built-in modules (:data:`BUILTIN_MODULES`) are imported on first use; each registers its
problems with :func:`register_problem` at import. A name can be registered once.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import math
import re
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pinnkan.run_failure import error_summary, first_line

BUILTIN_MODULES: tuple[str, ...] = ("poisson", "allen_cahn", "sine_gordon", "feynman", "highdim")

__all__ = [
    "BUILTIN_MODULES",
    "get_problem",
    "list_problems",
    "problem_file",
    "register_problem",
    "resolved_problem_file",
]


@dataclass(frozen=True)
class ProblemEntry:
    """A registered problem: ``factory(**options)`` builds it."""

    name: str
    factory: Callable[..., Any]
    description: str


PROBLEMS: dict[str, ProblemEntry] = {}


def register_problem(name: str, factory: Callable[..., Any], description: str = "") -> None:
    """Register ``factory`` under ``name``; a name can be registered once."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ValueError(
            f"problem name {name!r} is not allowed; use letters, digits, '_', '-', '.'"
        )
    if name in PROBLEMS:
        raise ValueError(f"problem {name!r} is already registered")
    if not callable(factory):
        raise ValueError(f"factory {factory!r} for problem {name!r} is not callable")
    PROBLEMS[name] = ProblemEntry(name, factory, description)


def load_builtins() -> None:
    """Import every built-in problem module (each registers itself once)."""
    for module in BUILTIN_MODULES:
        importlib.import_module(f"{__name__}.{module}")


def list_problems() -> dict[str, str]:
    """Registered problem names and their one-line descriptions."""
    load_builtins()
    return {name: entry.description for name, entry in PROBLEMS.items()}


def problem_file(name: str) -> str | None:
    """``"a/b.py"`` for ``"a/b.py:Class"`` (a user problem file), None for built-in names."""
    prefix, separator, _ = name.rpartition(":")
    return prefix if separator and prefix.endswith(".py") else None


def resolved_problem_file(name: str) -> str | None:
    """The absolute path of the file of ``"a/b.py:Class"`` as it is found from the current
    folder now (recorded in run files, so that ``resume``/``plot`` find it from anywhere);
    None for built-in names."""
    file = problem_file(name)
    return None if file is None else str(Path(file).expanduser().resolve())


def get_problem(name: str, **options: Any) -> Any:
    """Build the problem called ``name`` (see the module docstring) with ``**options``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"problem name {name!r} is not allowed; give a non-empty string")
    prefix, separator, target = name.rpartition(":")
    if problem_file(name) is not None:
        return load_problem_file(prefix, target, options)
    if name.endswith(".py"):
        raise ValueError(f"problem {name!r} names a file but no class; write {name}:ClassName")
    load_builtins()
    if not separator:
        return construct(find_entry(name, name).factory, options, name)
    if "variant" in options:
        raise ValueError(f"problem {name!r} already names a variant; drop the variant option")
    entry = find_entry(prefix, name)
    accepted = accepted_options(entry.factory)
    if accepted is not None and "variant" not in accepted:
        raise ValueError(f"problem {prefix!r} has no variants; {name!r} is not allowed")
    return construct(entry.factory, {"variant": target, **options}, name)


def find_entry(name: str, requested: str) -> ProblemEntry:
    for candidate in (name, name.replace("-", "_")):
        if candidate in PROBLEMS:
            return PROBLEMS[candidate]
    allowed = ", ".join(PROBLEMS)
    raise ValueError(
        f"problem {requested!r} is not known; allowed: {allowed}, or path/to/file.py:ClassName"
    )


# --- options --------------------------------------------------------------------------------


def accepted_options(factory: Callable[..., Any]) -> list[str] | None:
    """Keyword names ``factory`` accepts; None when it takes ``**kwargs`` (anything goes)."""
    parameters = inspect.signature(factory).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


BOOLEAN_WORDS = {"true": True, "false": False}  # also as Python writes them: True, False
TYPE_WORDS = {
    bool: "a bool (true or false)",
    int: "an integer",
    float: "a finite number",
    str: "a string",
}
NONE_WORDS = ("none", "null")  # the value None of an optional parameter (``X | None``)


def typed_option(factory: Callable[..., Any], name: str, value: Any, label: str) -> Any:
    """``value`` for the parameter ``name`` of ``factory`` annotated ``bool``, ``int``, ``float``
    or ``str``, or one of them ``| None``: "False" (a command line's text) is False, not a
    truthy string; 3 is 3.0 for a float and "3" for a str; "none" is None for an optional one.
    A value that is not of the type is one line. Parameters with other annotations (or none)
    take the value as it is."""
    kind = annotation(factory, name)
    optional = optional_of(kind)
    if optional is not None:
        if value is None or (isinstance(value, str) and value.lower() in NONE_WORDS):
            return None
        kind = optional
    if kind is bool:
        word = BOOLEAN_WORDS.get(value.lower()) if isinstance(value, str) else None
        if isinstance(value, bool) or word is not None:
            return value if word is None else word
    elif kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
    elif kind is str:
        return value if isinstance(value, str) else json_text(value)
    elif kind not in (bool, int, float):
        return value
    raise ValueError(
        f"option {name}={value!r} of problem {label!r} is not allowed; it must be "
        f"{TYPE_WORDS[kind]}" + (" or none" if optional is not None else "")
    )


def optional_of(kind: Any) -> Any:
    """``X`` for an annotation ``X | None`` (``Optional[X]``) with X one of bool, int, float, str;
    None otherwise."""
    arguments = typing.get_args(kind)
    if type(None) not in arguments or len(arguments) != 2:
        return None
    (other,) = [argument for argument in arguments if argument is not type(None)]
    return other if other in TYPE_WORDS else None


def annotation(factory: Callable[..., Any], name: str) -> Any:
    """The annotated type of parameter ``name`` (None when it cannot be resolved)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target).get(name)
    except Exception:  # an annotation the user's module cannot resolve: no check
        return None


def json_text(value: Any) -> str:
    """A value read from ``KEY=VALUE`` as JSON, written back as its text (``3`` -> ``"3"``)."""
    return json.dumps(value)


def required_options(factory: Callable[..., Any]) -> list[str]:
    parameters = inspect.signature(factory).parameters.values()
    keywords = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in parameters if p.kind in keywords and p.default is p.empty]


def construct(factory: Callable[..., Any], options: dict[str, Any], label: str) -> Any:
    """``factory(**options)``, with unknown, missing or rejected options as ``ValueError``."""
    accepted = accepted_options(factory)
    allowed = "none" if not accepted else ", ".join(accepted)
    if accepted is not None:
        unknown = [option for option in options if option not in accepted]
        if unknown == ["dim"]:  # --dim for a problem of fixed dimension (a Feynman equation)
            raise ValueError(f"problem {label!r} has a fixed dimension: leave out --dim")
        if unknown:
            raise ValueError(
                f"option {unknown[0]!r} is not an option of problem {label!r}; allowed: {allowed}"
            )
    missing = [option for option in required_options(factory) if option not in options]
    if missing:
        raise ValueError(f"problem {label!r} needs option {missing[0]!r}; options: {allowed}")
    options = {name: typed_option(factory, name, value, label) for name, value in options.items()}
    try:
        return factory(**options)
    except TypeError as error:
        raise ValueError(f"bad options for problem {label!r}: {first_line(error)}") from error
    except (ValueError, NotImplementedError):
        raise  # the problem's own one-line refusal
    except Exception as error:  # a bug, or an assert on an option: one line naming where
        raise ValueError(
            f"problem {label!r} could not be built with options {options}: "
            f"{error_summary(error)} (--debug shows the traceback)"
        ) from error


# --- user files -----------------------------------------------------------------------------


def load_problem_file(path: str, class_name: str, options: dict[str, Any]) -> Any:
    """Instantiate ``class_name`` from the Python file ``path`` with ``**options``."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"problem file {path!r} does not exist")
    if not class_name.isidentifier():
        raise ValueError(f"class name {class_name!r} is not allowed; write {path}:ClassName")
    module = import_file(file, path)
    bases = problem_base_classes()
    cls = vars(module).get(class_name)
    if cls is None:
        defined = [n for n, v in vars(module).items() if is_problem_class(v, bases, module)]
        listing = ", ".join(defined) or "none"
        raise ValueError(
            f"problem file {path!r} has no class {class_name!r}; problem classes: {listing}"
        )
    if not (isinstance(cls, type) and issubclass(cls, bases)):
        names = " or ".join(f"{base.__module__}.{base.__name__}" for base in bases)
        raise ValueError(f"{class_name!r} in {path!r} is not a subclass of {names}")
    if inspect.isabstract(cls):
        methods = ", ".join(sorted(cls.__abstractmethods__))
        raise ValueError(f"class {class_name!r} in {path!r} is abstract; implement {methods}")
    return construct(cls, options, f"{path}:{class_name}")


def import_file(file: Path, path: str) -> ModuleType:
    """Execute a Python file as a fresh module (registered in ``sys.modules`` while it lives)."""
    module_name = "pinnkan_user_problem_" + re.sub(r"\W", "_", file.stem)
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ValueError(f"problem file {path!r} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        reason = f"{type(error).__name__}: {first_line(error)}"
        raise ValueError(f"problem file {path!r} failed to import: {reason}") from error
    return module


def problem_base_classes() -> tuple[type, ...]:
    """``(PDE,)``, plus ``Regression`` when :mod:`pinnkan.regression` exists."""
    from pinnkan.problem import PDE

    try:
        from pinnkan.regression import Regression
    except ModuleNotFoundError as error:
        if error.name != "pinnkan.regression":
            raise
        return (PDE,)
    return (PDE, Regression)


def is_problem_class(value: Any, bases: tuple[type, ...], module: ModuleType) -> bool:
    return (
        isinstance(value, type) and issubclass(value, bases) and value.__module__ == module.__name__
    )
