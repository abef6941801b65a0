"""Laws that can compel an organisation to hand over data, and the country whose link triggers each.

One table, as data: the loader checks ``not_exposed_to`` names against it and the policy engine derives an
organisation's exposure from it (a law applies when any organisation of the control chain has ``country`` or
``hq`` equal to the law's country; see ``topology.md``). Adding a law is adding a row here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

LAW_COUNTRIES: Mapping[str, str] = MappingProxyType(
    {
        "US_CLOUD_ACT": "US",  # CLOUD Act, 18 U.S.C. § 2713: US providers must disclose data they control abroad
        "CN_NIL_ART7": "CN",  # PRC National Intelligence Law art. 7: organisations must support intelligence work
    }
)

KNOWN_LAWS: frozenset[str] = frozenset(LAW_COUNTRIES)


def laws_reaching(countries: Iterable[str]) -> frozenset[str]:
    """The laws triggered by links to any of ``countries`` (the ``country``/``hq`` values of a control chain)."""
    linked = frozenset(countries)
    return frozenset(law for law, country in LAW_COUNTRIES.items() if country in linked)
