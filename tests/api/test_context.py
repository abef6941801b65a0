"""Per-request bookkeeping: ids, and where an answer came from."""

from __future__ import annotations

import re

from regiongate.api.context import new_request_id


def test_request_ids_are_96_random_bits_and_do_not_repeat() -> None:
    ids = [new_request_id() for _ in range(5000)]  # several blocks of the id pool
    assert all(re.fullmatch(r"req_[0-9a-f]{24}", i) for i in ids)
    assert len(set(ids)) == len(ids)
