"""Media settings come from the environment, in one place, with sane defaults and clear errors."""

from __future__ import annotations

import pytest

from regiongate.errors import ConfigError
from regiongate.media.limits import MediaLimits
from regiongate.settings import MediaSettings, media_settings


def test_defaults() -> None:
    settings = media_settings({})
    assert settings.limits == MediaLimits()
    assert (settings.fetch, settings.allow_hosts, settings.processes) == (True, frozenset(), True)
    assert settings.workers >= 1
    assert settings.queue == 16


def test_every_knob() -> None:
    settings = media_settings(
        {
            "REGIONGATE_MEDIA_FETCH": "off",
            "REGIONGATE_MEDIA_ALLOW_HOSTS": "cdn.example.org, .media.example.com,",
            "REGIONGATE_MEDIA_FETCH_TIMEOUT": "5",
            "REGIONGATE_MEDIA_WORKERS": "3",
            "REGIONGATE_MEDIA_QUEUE": "7",
            "REGIONGATE_MEDIA_POOL": "thread",
            "REGIONGATE_MEDIA_WORKER_MEMORY": "2147483648",
            "REGIONGATE_MEDIA_TASKS_PER_CHILD": "50",
            "REGIONGATE_MEDIA_MAX_PART_BYTES": "1000000",
            "REGIONGATE_MEDIA_MAX_PARTS": "4",
            "REGIONGATE_MEDIA_MAX_VIDEO_SECONDS": "12.5",
        }
    )
    assert settings == MediaSettings(
        limits=MediaLimits(max_part_bytes=1_000_000, max_parts=4, max_video_seconds=12.5),
        fetch=False,
        allow_hosts=frozenset({"cdn.example.org", ".media.example.com"}),
        fetch_timeout=5.0,
        workers=3,
        queue=7,
        processes=False,
        worker_memory=2**31,
        tasks_per_child=50,
    )
    assert isinstance(settings.limits.max_parts, int)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"REGIONGATE_MEDIA_FETCH": "maybe"}, "REGIONGATE_MEDIA_FETCH"),
        ({"REGIONGATE_MEDIA_MAX_PARTS": "lots"}, "REGIONGATE_MEDIA_MAX_PARTS"),
        ({"REGIONGATE_MEDIA_MAX_PART_BYTES": "-1"}, "REGIONGATE_MEDIA_MAX_PART_BYTES"),
        ({"REGIONGATE_MEDIA_MAX_PART_BYTES": str(2**40)}, "REGIONGATE_MEDIA_*"),  # above the request cap
        ({"REGIONGATE_MEDIA_POOL": "fork"}, "REGIONGATE_MEDIA_POOL"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        media_settings(env)
    assert caught.value.path == name
