"""Capability routing: which of a request's compliant candidates can serve it as asked.

These functions only ever *narrow* a candidate set that came from the compliance matrix: a backend leaves it when
its model does not output audio the request asks for, or cannot be sent the request's video. When nothing is left,
the refusal names the modality and the tenant's compliant backends that lack it.
"""

from __future__ import annotations

from collections.abc import Mapping

from regiongate.errors import UnsupportedModality
from regiongate.topology.records import Backend, Modality, ServedModel


def carries_video(served: ServedModel) -> bool:
    """OpenAI's dialect has no video part: video goes there only as frames sampled by a normalizing profile."""
    return served.dialect != "openai" or served.media_profile != "passthrough"


def capable(
    ids: tuple[str, ...],
    backends: Mapping[str, Backend],
    model: str,
    modalities: frozenset[Modality],
    audio_out: bool,
) -> tuple[str, ...]:
    """The members of ``ids`` (in order) whose model outputs audio if asked and can be sent the input's video."""
    video = Modality.VIDEO in modalities
    if not (audio_out or video):
        return ids
    return tuple(
        bid
        for bid in ids
        if (not audio_out or Modality.AUDIO in backends[bid].models[model].output)
        and (not video or carries_video(backends[bid].models[model]))
    )


def incapable(
    tenant: str,
    ids: tuple[str, ...],
    backends: Mapping[str, Backend],
    model: str,
    modalities: frozenset[Modality],
    audio_out: bool,
) -> UnsupportedModality:
    """Why :func:`capable` left nothing of ``ids`` (non-empty: the compliant candidates for the input)."""
    head = f"No backend compliant with tenant {tenant}'s policy serves `{model}`"
    if audio_out and not capable(ids, backends, model, frozenset(), audio_out):
        return UnsupportedModality(
            f"{head} with audio output. Compliant backends lacking audio output: {', '.join(ids)}.",
            param="modalities",
        )
    lack = [bid for bid in ids if not carries_video(backends[bid].models[model])]
    extra = " with audio output" if audio_out else ""
    return UnsupportedModality(
        f"{head} with input video{extra} in a form it can be sent. Compliant backends that cannot be sent video "
        f"(OpenAI's dialect has no video part and their media profile samples no frames): {', '.join(lack)}.",
        param="messages",
    )


def lacking_input(
    compliant: tuple[str, ...], backends: Mapping[str, Backend], model: str, modalities: frozenset[Modality]
) -> list[str]:
    """The compliant backends serving ``model`` whose model does not take every input modality."""
    return [bid for bid in compliant if not modalities <= backends[bid].models[model].input]
