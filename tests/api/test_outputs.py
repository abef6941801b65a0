"""Merging vLLM-Omni's separate audio choices into OpenAI's shape, and rewriting its audio chunks."""

from __future__ import annotations

from typing import Any

import msgspec

from regiongate.api.outputs import AudioDeltas, merge_audio_choices


def _text(index: int, content: str) -> dict[str, Any]:
    return {"index": index, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}


def _audio(index: int, data: str) -> dict[str, Any]:
    audio = {"id": f"a{index}", "data": data, "expires_at": 7, "transcript": ""}
    return {"index": index, "message": {"role": "assistant", "content": None, "audio": audio}}


def _merged(*choices: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = msgspec.json.decode(merge_audio_choices(msgspec.json.encode({"choices": choices})))[
        "choices"
    ]
    return out


def test_n_choices_merge_by_index() -> None:
    merged = _merged(_text(0, "first"), _text(1, "second"), _audio(1, "BBBB"), _audio(0, "AAAA"))
    assert [(c["index"], c["message"]["content"], c["message"]["audio"]["data"]) for c in merged] == [
        (0, "first", "AAAA"),
        (1, "second", "BBBB"),
    ]
    assert merged[1]["message"]["audio"]["transcript"] == "second"


def test_audio_with_no_free_text_choice_is_kept_with_a_unique_index() -> None:
    merged = _merged(_text(0, "only"), _audio(0, "AAAA"), _audio(0, "BBBB"))
    assert [c["index"] for c in merged] == [0, 1]
    assert merged[0]["message"]["audio"]["data"] == "AAAA"
    assert merged[1]["message"]["audio"]["data"] == "BBBB"


def test_other_replies_are_returned_as_they_came() -> None:
    for body in (
        msgspec.json.encode({"choices": [_text(0, "no audio here")]}),
        msgspec.json.encode({"choices": [_audio(0, "AAAA")]}),  # OpenAI's own shape: one choice
        msgspec.json.encode({"choices": [_text(0, "a"), _text(1, "b")], "audio": None}),
    ):
        assert merge_audio_choices(body) is body


def test_audio_chunks_become_delta_audio_and_other_events_pass_untouched() -> None:
    rewrite = AudioDeltas()
    text = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}],"modality":"text"}\n\n'
    assert rewrite(text) == text
    plain = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    assert rewrite(plain) is plain
    audio = b'data: {"choices":[{"index":0,"delta":{"content":"UklG"}}],"modality":"audio"}\n\n: ping\n\n'
    out = rewrite(audio)
    assert out.endswith(b"\n\n: ping\n\n")
    chunk = msgspec.json.decode(out.split(b"\n\n")[0][len(b"data: ") :])
    delta = chunk["choices"][0]["delta"]
    assert set(chunk) == {"choices"}
    assert set(delta) == {"audio"}
    assert delta["audio"]["data"] == "UklG"
    assert delta["audio"]["id"].startswith("audio_")
    again = msgspec.json.decode(rewrite(audio).split(b"\n\n")[0][len(b"data: ") :])
    assert again["choices"][0]["delta"]["audio"]["id"] == delta["audio"]["id"]  # one id per stream
