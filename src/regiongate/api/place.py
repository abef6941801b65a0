"""Where an answer came from, as decision records and response headers name it. Fixed per backend, so built once
when the gateway starts rather than on every request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from regiongate.topology.records import Backend, Datacenter, Gateway


@dataclass(frozen=True, slots=True)
class Place:
    gateway: str
    log_region: str  # the gateway's region: the log that records the decision is kept there
    headers: Mapping[str, str]  # x-regiongate-* naming the gateway and, if any, the backend and where it runs
    backend: str | None = None
    datacenter: str | None = None
    country: str | None = None
    operators: tuple[str, ...] = ()  # every party that can touch the data there (Datacenter.parties)

    @classmethod
    def nowhere(cls, gateway: Gateway, gateway_dc: Datacenter) -> Place:
        """Before (or without) a backend: a refusal."""
        return cls(gateway.id, gateway_dc.region, {"X-Regiongate-Gateway": gateway.id})

    @classmethod
    def of(cls, gateway: Gateway, gateway_dc: Datacenter, backend: Backend, dc: Datacenter) -> Place:
        headers = {
            "X-Regiongate-Gateway": gateway.id,
            "X-Regiongate-Backend": backend.id,
            "X-Regiongate-Datacenter": dc.id,
            "X-Regiongate-Region": dc.region,
        }
        return cls(gateway.id, gateway_dc.region, headers, backend.id, dc.id, dc.country, dc.parties)
