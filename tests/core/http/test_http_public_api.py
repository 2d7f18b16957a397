"""The public names of crmhub.core.http are documented and typed."""

from __future__ import annotations

import inspect

import crmhub.core.http as http


def test_package_docstring_is_a_tutorial() -> None:
    doc = http.__doc__ or ""
    for name in ("ApiClient(", "RateLimiter(", "RedisLimiterBackend(", ".pages(", "next_token"):
        assert name in doc


def test_every_public_name_and_method_has_a_docstring() -> None:
    missing = []
    for name in http.__all__:
        obj = getattr(http, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or not inspect.isfunction(member):
                    continue
                if not member.__doc__:
                    missing.append(f"{name}.{attr}")
    assert missing == []


def test_public_functions_are_fully_annotated() -> None:
    for name in http.__all__:
        obj = getattr(http, name)
        functions = [obj] if inspect.isfunction(obj) else []
        if inspect.isclass(obj):
            functions = [
                m
                for a, m in vars(obj).items()
                if inspect.isfunction(m)
                and m.__module__.startswith("crmhub.core.http")
                and (not a.startswith("_") or a == "__init__")
            ]
        for function in functions:
            signature = inspect.signature(function)
            assert "return" in function.__annotations__, function.__qualname__
            for parameter in signature.parameters.values():
                if parameter.name in ("self", "cls"):
                    continue
                assert parameter.name in function.__annotations__, (
                    f"{function.__qualname__}({parameter.name})"
                )
