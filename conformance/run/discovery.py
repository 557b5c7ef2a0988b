"""Discovery: a URL target's inventory read through List Pools and List Nodes, every page of them.

The live service pages its lists (1,000 items a page, then `odata.nextLink`). Discovery follows each link on
the target's own scheme, host and port only (a link elsewhere would carry the run's credentials away), refuses
a link that repeats (a loop), and stops with a clear message past a cap on pages and items. Every answer is
checked for shape, so a target that lists something other than objects is named as the cause. The cost is one
request per page and linear in the pools and nodes listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from conformance.inventory import Inventory, parse_inventory
from conformance.models import HarnessError, Request, UsageError
from conformance.targets.base import Target

MAX_PAGES = 5_000  # pages read in all (List Pools and every List Nodes)
MAX_ITEMS = 200_000  # pools and nodes listed in all
NEXT_LINK = "odata.nextLink"
ADVICE = "describe the pools to test with --inventory FILE"


@dataclass
class _Budget:
    """What discovery has read, against its caps."""

    max_pages: int
    max_items: int
    where: str
    pages: int = 0
    items: int = 0

    def page(self) -> None:
        self.pages += 1
        if self.pages > self.max_pages:
            raise UsageError(f"discovery stopped: {self.where} answers more than {self.max_pages:,} pages "
                             f"(List Pools and List Nodes together); {ADVICE}")

    def item(self) -> None:
        self.items += 1
        if self.items > self.max_items:
            raise UsageError(f"discovery stopped: {self.where} lists more than {self.max_items:,} pools and "
                             f"nodes; {ADVICE}")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _next_page(link: Any, target: Target, what: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The path (under the target's base URL) and query an odata.nextLink names; never another host."""
    if not isinstance(link, str) or not link:
        raise HarnessError(f"{what} at {target.base_url}: odata.nextLink is {_short(link)}, not a URL")
    base, parts = urlsplit(target.base_url), urlsplit(link)
    if parts.scheme or parts.netloc:
        same = (parts.scheme.lower() == base.scheme.lower() and parts.hostname == base.hostname
                and (parts.port or _port(parts.scheme)) == (base.port or _port(base.scheme)))
        if not same:
            raise HarnessError(f"{what} at {target.base_url}: odata.nextLink {link!r} points to another host; "
                               "discovery never follows it (the run's credentials would go with it)")
    prefix = base.path.rstrip("/")
    if not parts.path.startswith(prefix + "/"):
        raise HarnessError(f"{what} at {target.base_url}: odata.nextLink {link!r} leaves the target's base path")
    return parts.path[len(prefix):], tuple(parse_qsl(parts.query, keep_blank_values=True))


def _port(scheme: str) -> int:
    return 443 if scheme.lower() == "https" else 80


def list_items(target: Target, path: str, api_version: str, what: str, budget: _Budget) -> Iterator[Any] | None:
    """Every item of a Batch list, page after page; None when the first page is not a 200 (not served)."""
    query: tuple[tuple[str, str], ...] = (("api-version", api_version),)
    budget.page()
    first = _page(target, path, query, what, 1)
    if first is None:
        return None

    def items() -> Iterator[Any]:
        doc, seen, number = first, {(path, query)}, 1
        while True:
            for item in doc["value"]:
                budget.item()
                yield item
            if doc.get(NEXT_LINK) is None:
                return
            page_path, page_query = _next_page(doc[NEXT_LINK], target, what)
            if not any(k == "api-version" for k, _ in page_query):
                page_query = (*page_query, ("api-version", api_version))
            if (page_path, page_query) in seen:
                raise HarnessError(f"{what} at {target.base_url}: odata.nextLink {doc[NEXT_LINK]!r} names a page "
                                   f"already read (a loop after page {number}); {ADVICE}")
            seen.add((page_path, page_query))
            budget.page()
            number += 1
            doc = _page(target, page_path, page_query, what, number)
            if doc is None:
                raise HarnessError(f"{what} at {target.base_url}: page {number} (odata.nextLink) was not served")
    return items()


def _page(target: Target, path: str, query: tuple[tuple[str, str], ...], what: str, number: int) -> Any:
    response = target.send(Request("", "", method="GET", query=query, path=path))
    if response.status != 200:
        return None
    try:
        doc = response.json()
    except ValueError as err:
        raise HarnessError(f"{what} at {target.base_url} answered page {number} with a body that is not JSON "
                           f"({err}); {ADVICE}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("value"), list):
        raise HarnessError(f"{what} at {target.base_url} answered page {number} without a \"value\" list "
                           f"({_short(doc)}); {ADVICE}")
    return doc


def _text(item: dict[str, Any], key: str, what: str, index: int, target: Target) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise HarnessError(f"{what} at {target.base_url}: item {index} has {key} {_short(value)}, not a string; "
                           f"{ADVICE}")
    return value


def discover_inventory(target: Target, api_version: str, *, max_pages: int = MAX_PAGES,
                       max_items: int = MAX_ITEMS) -> Inventory:
    """Build the inventory from List Pools and List Nodes (every page), where the target serves them."""
    budget = _Budget(max_pages, max_items, target.base_url)
    pools = list_items(target, "/pools", api_version, "List Pools", budget)
    if pools is None:
        raise UsageError(f"{target.base_url} does not serve List Pools; {ADVICE}")
    raw_pools = []
    for i, pool in enumerate(pools):
        if not isinstance(pool, dict):
            raise HarnessError(f"List Pools at {target.base_url}: item {i} is {_short(pool)}, not a pool object; "
                               f"{ADVICE}")
        pid = _text(pool, "id", "List Pools", i, target)
        conf = ("virtualMachineConfiguration" if "virtualMachineConfiguration" in pool
                else "cloudServiceConfiguration")
        what = f"List Nodes of pool {pid!r}"
        nodes = []
        for j, node in enumerate(list_items(target, f"/pools/{quote(pid, safe='')}/nodes", api_version, what,
                                            budget) or ()):
            if not isinstance(node, dict):
                raise HarnessError(f"{what} at {target.base_url}: item {j} is {_short(node)}, not a node object; "
                                   f"{ADVICE}")
            nodes.append({"id": _text(node, "id", what, j, target), "state": _text(node, "state", what, j, target)})
        raw_pools.append({"id": pid, "configuration": conf, "nodes": nodes})
    return parse_inventory({"pools": raw_pools}, source=f"inventory discovered at {target.base_url}")
