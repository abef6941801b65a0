"""The processing places: ``datacenters``, ``backends`` and ``gateways``."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType

from regiongate.topology.fields import Fields, Issues, Reader
from regiongate.topology.records import (
    Accelerator,
    Backend,
    Certification,
    Datacenter,
    DataHandling,
    DataHandlingSpec,
    Engine,
    Evidence,
    Gateway,
    KeyHolder,
    Modality,
    ServedModel,
)
from regiongate.topology.yamlsafe import join

EVIDENCE: Mapping[str, Evidence] = MappingProxyType({e.name.lower(): e for e in Evidence})
KEY_HOLDERS: Mapping[str, KeyHolder] = MappingProxyType({k.value: k for k in KeyHolder})
ENGINES: Mapping[str, Engine] = MappingProxyType({e.value: e for e in Engine})
MODALITIES: Mapping[str, Modality] = MappingProxyType({m.value: m for m in Modality})
# Schemes a policy may require even if no datacenter of the file declares them yet (architecture.md §1).
KNOWN_SCHEMES = frozenset({"SecNumCloud", "C5", "ISO27001", "GaiaX"})
# Media profiles and wire dialects a backend or model may declare: the names of regiongate.media.profiles.PROFILES and
# regiongate.media.dialects.WireDialect (kept here as data so loading a topology needs no media libraries; a test
# checks the two agree).
MEDIA_PROFILES: Mapping[str, str] = MappingProxyType(
    {n: n for n in ("passthrough", "qwen-omni", "qwen2.5-omni", "qwen3-omni")}
)
DIALECTS: Mapping[str, str] = MappingProxyType({n: n for n in ("openai", "vllm", "dashscope")})
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_MODEL_NAME = re.compile(r"^[^\s\x00-\x1f]{1,256}$")  # public names appear in requests and headers: no spaces

_DC_REQUIRED = ("region", "country", "city", "facility_operator", "service_operator")
_DC_OPTIONAL = ("subprocessors", "certifications", "data_handling")
_BACKEND_REQUIRED = ("datacenter", "engine", "accelerator", "capacity", "models")
_BACKEND_OPTIONAL = ("url", "max_concurrency", "data_handling", "model_path", "media_profile", "dialect")
_MODEL_OPTIONAL = ("served_as", "weights_digest", "media_profile", "dialect")
_HANDLING_KEYS = ("retention_days", "abuse_logging", "human_review", "storage_in", "staff_access_from", "keys_held_by")


def parse_datacenters(reader: Reader, value: object, orgs: Collection[str], issues: Issues) -> dict[str, Datacenter]:
    """Every datacenter that parses; the others' errors go to ``issues``. ``orgs``: declared organisation ids."""
    result: dict[str, Datacenter] = {}
    for dcid, body in reader.entries(value, "datacenters"):
        with issues.entry():
            result[dcid] = _datacenter(reader, dcid, body, join("datacenters", dcid), orgs)
    return result


def _datacenter(reader: Reader, dcid: str, body: object, path: str, orgs: Collection[str]) -> Datacenter:
    f = reader.fields(body, path, _DC_REQUIRED, _DC_OPTIONAL)

    def org(v: object, p: str) -> str:
        return reader.reference(v, p, orgs, "organisation")

    return Datacenter(
        id=dcid,
        region=f.get("region", reader.string),
        country=f.get("country", reader.country),
        city=f.get("city", reader.string),
        facility_operator=f.get("facility_operator", org),
        service_operator=f.get("service_operator", org),
        subprocessors=tuple(f.opt("subprocessors", lambda v, p: reader.items(v, p, org)) or ()),
        certifications=tuple(f.opt("certifications", lambda v, p: reader.items(v, p, _certification(reader))) or ()),
        data_handling=f.opt("data_handling", _handling(reader)) or DataHandlingSpec(),
    )


def _certification(reader: Reader) -> Callable[[object, str], Certification]:
    def read(value: object, path: str) -> Certification:
        f = reader.fields(value, path, ("scheme", "evidence"), ("level", "valid_from", "valid_until"))
        cert = Certification(
            scheme=f.get("scheme", reader.string),
            evidence=f.get("evidence", lambda v, p: reader.choice(v, p, EVIDENCE)),
            level=f.opt("level", reader.level),
            valid_from=f.opt("valid_from", reader.date),
            valid_until=f.opt("valid_until", reader.date),
        )
        if cert.valid_from and cert.valid_until and cert.valid_from > cert.valid_until:
            raise reader.error(f.at("valid_until"), f"{cert.valid_until} is before valid_from {cert.valid_from}")
        return cert

    return read


def _handling(reader: Reader) -> Callable[[object, str], DataHandlingSpec]:
    def read(value: object, path: str) -> DataHandlingSpec:
        f = reader.fields(value, path, (), _HANDLING_KEYS)
        return DataHandlingSpec(
            retention_days=f.opt("retention_days", lambda v, p: reader.integer(v, p, minimum=0)),
            abuse_logging=f.opt("abuse_logging", reader.boolean),
            human_review=f.opt("human_review", reader.boolean),
            storage_in=f.opt("storage_in", reader.countries),
            staff_access_from=f.opt("staff_access_from", reader.countries),
            keys_held_by=f.opt("keys_held_by", lambda v, p: reader.choice(v, p, KEY_HOLDERS)),
        )

    return read


def parse_backends(
    reader: Reader, value: object, datacenters: Mapping[str, Datacenter], declared: Collection[str], issues: Issues
) -> dict[str, Backend]:
    """Every backend that parses. ``datacenters``: those parsed; ``declared``: every datacenter id in the file."""
    result: dict[str, Backend] = {}
    for bid, body in reader.entries(value, "backends"):
        with issues.entry():
            backend = _backend(reader, bid, body, join("backends", bid), datacenters, declared)
            if backend is not None:
                result[bid] = backend
    return result


def _backend(
    reader: Reader, bid: str, body: object, path: str, dcs: Mapping[str, Datacenter], declared: Collection[str]
) -> Backend | None:
    """The backend, or None when its datacenter is declared but broken (that error is reported already)."""
    f = reader.fields(body, path, _BACKEND_REQUIRED, _BACKEND_OPTIONAL)
    dcid = f.get("datacenter", lambda v, p: reader.reference(v, p, declared, "datacenter"))
    engine = f.get("engine", lambda v, p: reader.choice(v, p, ENGINES))
    url, model_path = f.opt("url", reader.url), f.opt("model_path", reader.string)
    _check_engine(reader, f, engine, url, model_path)
    spec = f.opt("data_handling", _handling(reader)) or DataHandlingSpec()
    accelerator = f.get("accelerator", _accelerator(reader))
    capacity = f.get("capacity", lambda v, p: reader.number(v, p, 0, above=True))
    media_profile = f.opt("media_profile", lambda v, p: reader.choice(v, p, MEDIA_PROFILES)) or "passthrough"
    dialect = f.opt("dialect", lambda v, p: reader.choice(v, p, DIALECTS)) or "openai"
    models = f.get("models", _models(reader, media_profile, dialect))
    max_concurrency = f.opt("max_concurrency", lambda v, p: reader.integer(v, p, minimum=1))
    dc = dcs.get(dcid)
    if dc is None:
        return None
    return Backend(
        id=bid,
        datacenter=dcid,
        engine=engine,
        accelerator=accelerator,
        capacity=capacity,
        models=models,
        # The backend's own terms win key by key; what neither declares stays None so predicates fail closed.
        data_handling=DataHandling.resolve(spec.over(dc.data_handling), dc.country),
        url=url,
        max_concurrency=max_concurrency,
        model_path=model_path,
        media_profile=media_profile,
        dialect=dialect,
    )


def _check_engine(reader: Reader, f: Fields, engine: Engine, url: str | None, model_path: str | None) -> None:
    if engine is Engine.OPENAI and url is None:
        raise reader.error(f.at("url"), "missing required key: engine 'openai' is reached at a url")
    if engine is not Engine.EMBEDDED and model_path is not None:
        raise reader.error(f.at("model_path"), "only an 'embedded' engine loads a model_path")


def _accelerator(reader: Reader) -> Callable[[object, str], Accelerator]:
    def read(value: object, path: str) -> Accelerator:
        f = reader.fields(value, path, ("vendor", "model", "count"))
        return Accelerator(
            vendor=f.get("vendor", reader.string),
            model=f.get("model", reader.string),
            count=f.get("count", lambda v, p: reader.integer(v, p, minimum=1)),
        )

    return read


def _models(reader: Reader, media_profile: str, dialect: str) -> Callable[[object, str], Mapping[str, ServedModel]]:
    """The backend's models; ``media_profile`` and ``dialect`` are the backend's, for models declaring none."""

    def read(value: object, path: str) -> Mapping[str, ServedModel]:
        models = {}
        for name, body in reader.mapping(value, path, "model").items():
            models[name] = _served_model(reader, name, body, join(path, name), (media_profile, dialect))
        return MappingProxyType(models)

    return read


def _served_model(reader: Reader, name: str, body: object, path: str, media: tuple[str, str]) -> ServedModel:
    if _MODEL_NAME.match(name) is None:
        raise reader.error(path, f"bad model name {name!r}: no spaces or control characters, at most 256")
    f = reader.fields(body, path, ("input", "output"), _MODEL_OPTIONAL)

    def modalities(v: object, p: str) -> frozenset[Modality]:
        return frozenset(reader.items(v, p, lambda m, q: reader.choice(m, q, MODALITIES)))

    return ServedModel(
        public_name=name,
        served_as=f.opt("served_as", reader.string) or name,
        input=f.get("input", modalities),
        output=f.get("output", modalities),
        weights_digest=f.opt("weights_digest", lambda v, p: _digest(reader, v, p)),
        media_profile=f.opt("media_profile", lambda v, p: reader.choice(v, p, MEDIA_PROFILES)) or media[0],
        dialect=f.opt("dialect", lambda v, p: reader.choice(v, p, DIALECTS)) or media[1],
    )


def _digest(reader: Reader, value: object, path: str) -> str:
    text = reader.string(value, path)
    if _DIGEST.match(text) is None:
        raise reader.error(path, f"expected 'sha256:' and 64 lower-case hex digits, got {text!r}")
    return text


def parse_gateways(reader: Reader, value: object, datacenters: Collection[str], issues: Issues) -> dict[str, Gateway]:
    result: dict[str, Gateway] = {}
    for gid, body in reader.entries(value, "gateways"):
        with issues.entry():
            f = reader.fields(body, join("gateways", gid), ("datacenter", "url"))
            dcid = f.get("datacenter", lambda v, p: reader.reference(v, p, datacenters, "datacenter"))
            result[gid] = Gateway(id=gid, datacenter=dcid, url=f.get("url", reader.url))
    return result
