"""The command line as an operator uses it: exit statuses and what is printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from regiongate.cli import EXAMPLE_TOPOLOGY, main
from tests.engine.conftest import free_port

SERVE_PAR = ["serve", "--config", str(EXAMPLE_TOPOLOGY), "--gateway", "gw-par"]
EXPECTED_BACKENDS = {
    "eu-ministry": {"par-1-cpu"},
    "de-bank": {"fra-3-h200", "par-1-cpu"},
    "eu-retailer": {"ams-1-mi300", "fra-1-h20", "fra-1-ppu", "fra-2-h100", "fra-3-h200", "par-1-cpu"},
    "br-fintech": {"gru-1-ppu"},
    "global-startup": {"ams-1-mi300", "fra-1-h20", "fra-1-ppu", "fra-3-h200", "par-1-cpu"},
    "cn-app": {"hgh-1-ascend"},
}
EXPECTED_GATEWAYS = {
    "eu-ministry": {"gw-par"},
    "de-bank": {"gw-fra3", "gw-par"},
    "eu-retailer": {"gw-fra", "gw-fra3", "gw-par"},
    "global-startup": {"gw-fra", "gw-fra3", "gw-par"},
    "br-fintech": {"gw-gru"},
    "cn-app": {"gw-hgh"},
}


def test_check_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE_TOPOLOGY), "--at", "2026-11-24"]) == 0
    out = capsys.readouterr().out
    assert "valid" in out
    assert "6 tenants, 8 backends, 5 gateways" in out


def test_check_rejects_an_invalid_file_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE_TOPOLOGY.read_text().replace("facility_operator: vodafone-de", "facility_operator: vodafon"))
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml" in err
    assert "facility_operator" in err


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml" in capsys.readouterr().err


@pytest.mark.parametrize("tenant", sorted(EXPECTED_BACKENDS))
def test_explain_json_gives_the_required_sets(tenant: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(EXAMPLE_TOPOLOGY), "--tenant", tenant, "--json", "--at", "2026-11-24"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"backends", "gateways"}
    allowed = {b for b, d in report["backends"].items() if d["allowed"]}
    assert allowed == EXPECTED_BACKENDS[tenant]
    assert {g for g, d in report["gateways"].items() if d["allowed"]} == EXPECTED_GATEWAYS[tenant]
    for decision in [*report["backends"].values(), *report["gateways"].values()]:
        assert bool(decision["failed"]) != decision["allowed"]  # refused always says why; allowed never does


def test_explain_names_alibaba_exposure_for_de_bank(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(EXAMPLE_TOPOLOGY), "--tenant", "de-bank", "--json"]) == 0
    fra1 = json.loads(capsys.readouterr().out)["backends"]["fra-1-ppu"]
    assert fra1["failed"] == ["not_exposed_to"]


def test_explain_unknown_tenant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(EXAMPLE_TOPOLOGY), "--tenant", "nobody"]) == 2
    assert "unknown tenant" in capsys.readouterr().err


def test_keys_new(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "new"]) == 0
    out = capsys.readouterr().out
    assert "sha256:" in out


@pytest.mark.parametrize(
    ("state_url", "told"),
    [
        ("http://:secret@127.0.0.1:6379", ["invalid setting", "REGIONGATE_STATE_URL", "redis://", "http scheme"]),
        (f"redis://127.0.0.1:{free_port()}/0", ["cannot reach the gateways' shared state"]),  # nothing listens
    ],
)
def test_serve_refuses_to_start_without_its_shared_state_saying_why(
    state_url: str, told: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REGIONGATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REGIONGATE_DECISIONS", "memory")
    monkeypatch.setenv("REGIONGATE_STATE_URL", state_url)
    assert main([*SERVE_PAR, "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert all(text in err for text in told), err
    assert "Traceback" not in err
    assert "secret" not in err  # a URL's password is never printed


def test_serve_whose_log_cannot_open_lets_go_of_its_shared_state(tmp_path: Path) -> None:
    """Redis answered, then the log writer did not: the gateway exits 2 having closed its Redis connection (left
    open, it was a ResourceWarning at exit)."""
    env = {
        **os.environ,
        "REGIONGATE_DATA_DIR": str(tmp_path),
        "REGIONGATE_STATE_URL": os.environ.get("REGIONGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "REGIONGATE_LEDGER_SOCKET": str(tmp_path / "no-writer.sock"),
    }
    command = [
        sys.executable,
        "-W",
        "always::ResourceWarning",
        "-c",
        "import sys; from regiongate.cli import main; sys.exit(main())",
    ]
    args = [*SERVE_PAR, "--port", str(free_port())]
    done = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "cannot reach the region's log writer" in done.stderr
    assert "ResourceWarning" not in done.stderr, done.stderr
