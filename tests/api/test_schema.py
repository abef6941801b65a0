from __future__ import annotations

from typing import Any

import pytest

from regiongate.api.schema import ChatRequest, EmbeddingsRequest, chat_modalities, convert, decode_body
from regiongate.errors import InvalidJson, InvalidRequest
from regiongate.topology.records import Modality


def chat(*parts: dict[str, Any]) -> ChatRequest:
    return convert({"model": "m", "messages": [{"role": "user", "content": list(parts)}]}, ChatRequest)


def test_modalities_come_from_the_parts() -> None:
    assert chat_modalities(chat({"type": "text", "text": "x"})) == {Modality.TEXT}
    parts = [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
        {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}},
        {"type": "audio_url", "audio_url": {"url": "https://x/a.mp3"}},
        {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}},
    ]
    assert chat_modalities(chat(*parts)) == set(Modality)


def test_string_content_and_assistant_history_are_text() -> None:
    request = convert(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
                {"role": "tool", "content": "42", "tool_call_id": "1"},
            ],
        },
        ChatRequest,
    )
    assert chat_modalities(request) == {Modality.TEXT}


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "image_url", "image_url": "not-an-object"}, "messages[0].content[0].image_url"),
        (
            {"type": "image_url", "image_url": {"url": "x", "detail": "ultra"}},
            "messages[0].content[0].image_url.detail",
        ),
        ({"type": "input_audio", "input_audio": {"data": "AA=="}}, "messages[0].content[0].input_audio"),
        ({"text": "no type"}, "messages[0].content[0]"),
    ],
)
def test_bad_parts_name_their_param(part: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat(part)
    assert caught.value.param == param


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b'{"a": 1}x'])
def test_invalid_json(raw: bytes) -> None:
    with pytest.raises(InvalidJson):
        decode_body(raw)


def test_embeddings_inputs() -> None:
    for value in ("a", ["a", "b"], [1, 2, 3], [[1, 2], [3]]):
        assert convert({"model": "m", "input": value}, EmbeddingsRequest).input == value
    with pytest.raises(InvalidRequest) as caught:
        convert({"model": "m", "input": {"x": 1}}, EmbeddingsRequest)
    assert caught.value.param == "input"
