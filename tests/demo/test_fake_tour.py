"""``regiongate demo --once --fake-engines`` as a user runs it: the whole tour on in-process fake backends, its
decisions in the regions' verifiable logs, one receipt fetched over HTTP and verified offline."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from regiongate.ledger.receipts import DOES_NOT_PROVE, PROVES

DEMO = [sys.executable, "-W", "error", "-m", "regiongate.cli", "demo", "--once", "--fake-engines"]
RUN_TIMEOUT = 120.0  # seconds; the tour takes about 5 on fakes


@pytest.fixture(scope="module")
def once() -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "150", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(DEMO, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env, check=False)


def test_every_expectation_holds(once: subprocess.CompletedProcess[str]) -> None:
    out = once.stdout
    assert once.returncode == 0, out + once.stderr
    assert re.findall(r"^\s*✗ .*", out, flags=re.M) == []
    headings = re.findall(r"^(\d)\. ", out, flags=re.M)
    assert headings == [str(n) for n in range(1, 8)]
    held = re.findall(r"^  ✓ ", out, flags=re.M)
    assert f"✓ all {len(held)} expectations held" in out
    assert "every gateway and backend stopped" in out


def test_the_receipt_step_verifies_and_says_what_it_proves(once: subprocess.CompletedProcess[str]) -> None:
    out = once.stdout
    assert "6. A receipt: what the region's log proves about one answer" in out
    request_id = re.search(r"^eu-ministry → gw-par: 200, by par-1-cpu; X-Regiongate-Receipt: (req_\w+)$", out, re.M)
    assert request_id is not None, out
    assert f"GET http://127.0.0.1:8081/v1/receipts/{request_id.group(1)} with eu-ministry's key: 200" in out
    assert re.search(r"GET http://127.0.0.1:8081/v1/ledger/key: regiongate/eu-west\+[0-9a-f]{8}\+\S+$", out, re.M)
    assert f"  receipt for request {request_id.group(1)} of tenant eu-ministry: VERIFIED" in out
    assert "  log regiongate/eu-west, signed checkpoint of size" in out
    assert re.search(r"^  leaf \d+: decision #0: route qwen3-omni to backend par-1-cpu in datacenter par-1", out, re.M)
    assert re.search(r"^  leaf \d+: outcome: status 200, .* answered by par-1-cpu after 1 attempt", out, re.M)
    flat = " ".join(out.split())  # the long lines may wrap
    assert " ".join(("proves: " + " ".join(PROVES)).split()) in flat
    for item in DOES_NOT_PROVE:  # the verifier's own words, as `regiongate verify` prints them
        assert " ".join(f"does not prove: {item}".split()) in flat
    for check in (
        "✓ eu-ministry's receipt verifies offline with the region's public key alone",
        "✓ the body eu-ministry received is exactly the output logged for this request",
        "✓ its leaves are in eu-west's log and name what the answer's headers said: gw-par, par-1-cpu",
        "✓ de-bank asking for eu-ministry's receipt gets 404",
    ):
        assert check in out
    assert "de-bank asks gw-par for the same receipt with its own key: 404 receipt_not_found" in out


def test_the_summary_names_the_region_logs(once: subprocess.CompletedProcess[str]) -> None:
    flat = " ".join(once.stdout.split())
    logs = "ledger-cn-east.sqlite3, ledger-eu-central.sqlite3, ledger-eu-west.sqlite3, ledger-sa-east.sqlite3"
    assert f"the same decisions are leaves of 4 region logs ({logs})" in flat
    assert "out-of-policy routings, recomputed from the records against the matrix: 0" in flat


def test_quiet_on_stderr(once: subprocess.CompletedProcess[str]) -> None:
    """No traceback, unclosed session or destroyed task: warnings are errors in this run (-W error)."""
    for bad in ("Traceback", "Unclosed", "Task was destroyed", "Error", "Warning"):
        assert bad not in once.stderr, once.stderr
