"""What the demo prints while the world keeps running: the demo keys and copy-paste examples (``curl`` and the
``openai`` Python SDK, shown as text: the demo itself never imports it)."""

from __future__ import annotations

from rich.table import Table

from regiongate.demo.client import MODEL
from regiongate.demo.context import Tour, joined


def print_examples(tour: Tour) -> None:
    console = tour.console
    console.print()
    console.rule("[bold]The world keeps running: try it yourself", align="left")
    table = Table(title="demo tenants", title_justify="left")
    table.add_column("tenant")
    table.add_column("API key")
    table.add_column("compliant gateways")
    for tenant_id, tenant_key in tour.keys.items():
        gateways = joined(tour.world.gateway_url(g) for g in tour.matrix.compliant_gateways(tenant_id))
        table.add_row(tenant_id, tenant_key, gateways)
    console.print(table)
    tenant = tour.failover_tenant() or next((t for t in tour.keys if tour.home(t) is not None), None)
    gateway = tour.home(tenant) if tenant is not None else None
    if tenant is None or gateway is None:
        return
    url, key = tour.world.gateway_url(gateway), tour.keys[tenant]
    body = f'{{"model": "{MODEL}", "max_tokens": 64, "messages": [{{"role": "user", "content": "Hello"}}]}}'
    stream_body = body[:-1] + ', "stream": true}'
    snippets = [
        f"# {tenant}, plain (headers show where it ran: -i)",
        f"curl -i {url}/chat/completions -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
        f"  -d '{body}'",
        "",
        f"# {tenant}, streamed",
        f"curl -N {url}/chat/completions -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
        f"  -d '{stream_body}'",
    ]
    snippets += [
        "",
        f"# {tenant}'s receipt for an answer (ID: its x-regiongate-receipt header), checked offline with the log's key",
        f"curl -s {url}/receipts/ID -H 'Authorization: Bearer {key}' > receipt.json",
        f'regiongate verify receipt.json --key "$(curl -s {url}/ledger/key)"',
    ]
    misdirected = tour.misdirecting_tenant()
    if misdirected is not None:
        wrong = tour.world.gateway_url(tour.refused_gateways(misdirected)[0])
        snippets += [
            "",
            f"# {misdirected} at a gateway its policy refuses: 421 and X-Regiongate-Compliant-Gateways",
            f"curl -i {wrong}/chat/completions -H 'Authorization: Bearer {tour.keys[misdirected]}' "
            f"-H 'Content-Type: application/json' \\\n  -d '{body}'",
        ]
    snippets += [
        "",
        "# Python, with the openai SDK (pip install openai)",
        "from openai import OpenAI",
        f'client = OpenAI(base_url="{url}", api_key="{key}")',
        "raw = client.chat.completions.with_raw_response.create(",
        f'    model="{MODEL}", max_tokens=64, messages=[{{"role": "user", "content": "Hello"}}]',
        ")",
        'print(raw.headers["x-regiongate-backend"], raw.parse().choices[0].message.content)',
        f'for chunk in client.chat.completions.create(model="{MODEL}", stream=True, max_tokens=64,',
        '                                            messages=[{"role": "user", "content": "Hello"}]):',
        '    print(chunk.choices[0].delta.content or "" if chunk.choices else "", end="")',
    ]
    console.print("\n".join(snippets), markup=False, highlight=False, soft_wrap=True)
    console.print()
    console.print("[bold]Ctrl-C[/] stops every gateway and backend.")
