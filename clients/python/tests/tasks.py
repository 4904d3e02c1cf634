"""Tasks the tests submit: pages are data: URLs (no network at test time), AI steps go to the
stand-in provider's model group "default"."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

ITEMS = ["anvil", "bellows", "chisel"]


def page(html: str) -> str:
    return "data:text/html," + quote(html)


def workflow(tenant: str = "py-tests") -> dict[str, Any]:
    """navigate -> extract every list item -> chat over the extracted values."""
    items = "".join(f"<li>{item}</li>" for item in ITEMS)
    return {
        "tenant": tenant,
        "timeout": "60s",
        "steps": [
            {"name": "open", "navigate": {"url": page(f"<h1>Tools</h1><ul>{items}</ul>")}},
            {"name": "items", "extract": {"selector": "li", "all": True}},
            {
                "name": "summary",
                "chat": {
                    "model_group": "default",
                    "messages": [{"role": "CHAT_ROLE_USER", "content": "${steps.items.values}"}],
                },
            },
        ],
    }


def never_finishes(tenant: str = "py-tests") -> dict[str, Any]:
    """Opens a page, then waits for an element that never appears: running until cancelled (or,
    if the cancel is lost, failing after the step's timeout rather than hanging the tests)."""
    return {
        "tenant": tenant,
        "steps": [
            {"name": "open", "navigate": {"url": page("<p>nothing will appear</p>")}},
            {"name": "forever", "wait_for": {"selector": "#never"}, "timeout": "20s"},
        ],
    }


def navigate_only(tenant: str = "py-tests") -> dict[str, Any]:
    return {"tenant": tenant, "steps": [{"name": "open", "navigate": {"url": page("<p>hi</p>")}}]}
