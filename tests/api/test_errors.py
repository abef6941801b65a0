"""Bad input and refusals: always the OpenAI error shape, the right status, and nothing sent upstream."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.api.conftest import KEYS, World


async def post(world: World, gateway: str, path: str, *, tenant: str | None, data: Any) -> tuple[int, Any, Any]:
    headers = {"Authorization": f"Bearer {KEYS[tenant]}"} if tenant else {}
    body = data if isinstance(data, bytes) else None
    async with (
        aiohttp.ClientSession() as http,
        http.post(world.gateways[gateway] + path, data=body, json=None if body else data, headers=headers) as r,
    ):
        return r.status, await r.json(content_type=None), r.headers


def assert_openai_error(payload: Any) -> dict[str, Any]:
    assert set(payload) == {"error"}
    error: dict[str, Any] = payload["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


@pytest.mark.parametrize(
    ("data", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        ({"messages": [{"role": "user", "content": "x"}]}, None),
        ({"model": 3, "messages": []}, "model"),
        ({"model": "qwen3-omni", "messages": []}, "messages"),
        ({"model": "qwen3-omni", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        (
            {"model": "qwen3-omni", "messages": [{"role": "user", "content": [{"type": "hologram"}]}]},
            "messages[0].content[0].type",
        ),
        ({"model": "qwen3-omni", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
    ],
)
async def test_malformed_requests_are_400_with_param(world: World, data: Any, param: str | None) -> None:
    await world.start_gateway("gw-par")
    status, payload, _ = await post(world, "gw-par", "/chat/completions", tenant="eu-ministry", data=data)
    assert status == 400
    error = assert_openai_error(payload)
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param
    assert sum(world.requests_by_backend().values()) == 0


async def test_missing_key_is_401(world: World) -> None:
    await world.start_gateway("gw-par")
    status, payload, _ = await post(world, "gw-par", "/chat/completions", tenant=None, data={})
    assert status == 401
    assert assert_openai_error(payload)["code"] == "invalid_api_key"


async def test_421_comes_before_the_payload_is_read(world: World) -> None:
    await world.start_gateway("gw-hgh")
    # A malformed body: were it parsed, this would be a 400. The gateway refuses before looking at it.
    status, payload, headers = await post(world, "gw-hgh", "/chat/completions", tenant="de-bank", data=b"{oops")
    assert status == 421
    assert "http://127.0.0.1:8084/v1" in headers["X-Regiongate-Compliant-Gateways"]
    assert assert_openai_error(payload)["code"] == "gateway_not_compliant"


async def test_video_to_a_tenant_without_a_video_backend_is_unsupported_modality(world: World) -> None:
    await world.start_gateway("gw-par")
    video = {"type": "video_url", "video_url": {"url": "https://example.org/clip.mp4"}}
    data = {"model": "qwen3-omni", "messages": [{"role": "user", "content": [{"type": "text", "text": "?"}, video]}]}
    status, payload, _ = await post(world, "gw-par", "/chat/completions", tenant="eu-ministry", data=data)
    assert status == 400
    error = assert_openai_error(payload)
    assert error["code"] == "unsupported_modality"
    assert "video" in error["message"]
    assert "par-1-cpu" in error["message"]
    assert sum(world.requests_by_backend().values()) == 0


async def test_model_not_found_names_the_failed_predicates(world: World) -> None:
    # br-fintech may use only gru-1; a model it cannot reach anywhere must say why each backend was excluded.
    await world.start_gateway("gw-gru")
    data = {"model": "qwen3-omni", "messages": [{"role": "user", "content": "x"}]}
    status, payload, _ = await post(world, "gw-gru", "/chat/completions", tenant="br-fintech", data=data)
    assert status == 200, payload
    status, payload, _ = await post(
        world, "gw-gru", "/chat/completions", tenant="br-fintech", data={**data, "model": "qwen4"}
    )
    assert status == 404
    assert assert_openai_error(payload)["code"] == "model_not_found"


async def test_unknown_path_and_method(world: World) -> None:
    base = await world.start_gateway("gw-par")
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/nope") as r:
            assert r.status == 404
            assert_openai_error(await r.json())
        async with http.get(base + "/chat/completions") as r:
            assert r.status == 405
            assert_openai_error(await r.json())


async def test_upstream_client_error_is_relayed_not_retried(world: World) -> None:
    from regiongate.backends.fake import Behaviour

    await world.start_gateway("gw-par")
    world.fakes["par-1-cpu"].behaviour = Behaviour(mode="fail", status=400, message="context too long")
    data = {"model": "qwen3-omni", "messages": [{"role": "user", "content": "x"}]}
    status, payload, _ = await post(world, "gw-par", "/chat/completions", tenant="eu-ministry", data=data)
    assert status == 400
    assert "context too long" in assert_openai_error(payload)["message"]
    assert world.fakes["par-1-cpu"].requests == 1
