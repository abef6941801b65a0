"""Backends and their models declare a media profile and a wire dialect: optional, defaulted, checked."""

from __future__ import annotations

import pytest

from regiongate.media.dialects import WireDialect
from regiongate.media.profiles import PROFILES
from regiongate.topology.places import DIALECTS, MEDIA_PROFILES
from tests.topology.builders import assert_error_at, base, parse, set_at

BACKEND = "backends.b-1"


def test_defaults_are_passthrough_and_openai() -> None:
    backend = parse(base()).backends["b-1"]
    assert (backend.media_profile, backend.dialect) == ("passthrough", "openai")
    assert (backend.models["m"].media_profile, backend.models["m"].dialect) == ("passthrough", "openai")


def test_a_backend_declaration_is_its_models_default_and_a_model_may_override_it() -> None:
    doc = base()
    backend = doc["backends"]["b-1"]
    backend.update(media_profile="qwen3-omni", dialect="vllm")
    backend["models"]["other"] = {"input": ["text"], "output": ["text"], "media_profile": "qwen-omni"}
    backend["models"]["third"] = {"input": ["text"], "output": ["text"], "dialect": "dashscope"}
    models = parse(doc).backends["b-1"].models
    assert (models["m"].media_profile, models["m"].dialect) == ("qwen3-omni", "vllm")
    assert (models["other"].media_profile, models["other"].dialect) == ("qwen-omni", "vllm")
    assert (models["third"].media_profile, models["third"].dialect) == ("qwen3-omni", "dashscope")


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (f"{BACKEND}.media_profile", "qwen-omini", "did you mean 'qwen-omni'"),
        (f"{BACKEND}.dialect", "sglang", "one of openai, vllm, dashscope"),
        (f"{BACKEND}.models.m.media_profile", 3, "one of passthrough"),
        (f"{BACKEND}.models.m.dialect", "VLLM", "one of openai, vllm, dashscope"),
    ],
)
def test_unknown_values_name_the_path(path: str, value: object, fragment: str) -> None:
    doc = base()
    set_at(path, value)(doc)
    assert_error_at(doc, path, fragment)


def test_the_topology_knows_exactly_the_media_layers_names() -> None:
    # The loader keeps the names as data so that reading a topology needs no media libraries.
    assert set(MEDIA_PROFILES) == set(PROFILES)
    assert set(DIALECTS) == {d.value for d in WireDialect}
