"""Talking to the dashboards as the browser does, through Flask's test client: sign in, call a callback."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from dashboards.auth import CSRF_COOKIE, CSRF_HEADER

SECRET = "test-secret-key-0123456789abcdef"


def login(client: FlaskClient, username: str, password: str, lang: str = "vi") -> Any:
    """Sign in through the login form, with its CSRF token."""
    page = client.get(f"/login?lang={lang}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert csrf is not None
    return client.post(
        "/login", data={"username": username, "password": password, "csrf": csrf.group(1), "next": "/"}
    )


def csrf_header(client: FlaskClient) -> dict[str, str]:
    """The header Dash's renderer sends with every callback, copied from the session's cookie."""
    cookie = client.get_cookie(CSRF_COOKIE)
    assert cookie is not None, "signing in sets the CSRF cookie Dash sends back"
    return {CSRF_HEADER: cookie.value}


def callback_payload(client: FlaskClient, first_output: str, values: dict[str, Any]) -> dict[str, Any]:
    """Build the request Dash's renderer sends for the callback whose outputs start with ``first_output``."""
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if d["output"].lstrip(".").startswith(first_output))
    outputs = []
    for part in dep["output"].strip(".").split("..."):
        cid, prop = part.rsplit(".", 1)
        outputs.append({"id": cid, "property": prop})

    def fill(items: list[dict[str, str]]) -> list[dict[str, Any]]:
        return [{**i, "value": values.get(f"{i['id']}.{i['property']}")} for i in items]

    return {
        "output": dep["output"],
        "outputs": outputs if dep["output"].startswith("..") else outputs[0],
        "inputs": fill(dep["inputs"]),
        "state": fill(dep["state"]),
        "changedPropIds": [f"{i['id']}.{i['property']}" for i in dep["inputs"]],
    }


def call(client: FlaskClient, first_output: str, values: dict[str, Any], status: int = 200) -> Any:
    """Run a server callback as the signed-in browser would; return its response's outputs by component id."""
    payload = callback_payload(client, first_output, values)
    response = client.post("/_dash-update-component", json=payload, headers=csrf_header(client))
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    if status != 200:
        return None
    return response.get_json()["response"]


def page(client: FlaskClient, path: str = "/", lang: str = "vi") -> Any:
    """Ask the routing callback for the page at ``path``, the way dcc.Location does after a load."""
    out = call(client, "page-content.children", {"url.pathname": path, "lang.data": lang})
    return out["page-content"]["children"]


def find(node: Any, component_id: str) -> Any:
    """Return the component with this id in a serialised layout, or None."""
    if isinstance(node, dict):
        if node.get("props", {}).get("id") == component_id:
            return node
        return next((f for v in node.values() if (f := find(v, component_id)) is not None), None)
    if isinstance(node, list):
        return next((f for v in node if (f := find(v, component_id)) is not None), None)
    return None


def ids(node: Any) -> set[str]:
    """Return every string component id in a serialised layout."""
    out: set[str] = set()
    if isinstance(node, dict):
        cid = node.get("props", {}).get("id") if isinstance(node.get("props"), dict) else None
        if isinstance(cid, str):
            out.add(cid)
        for v in node.values():
            out |= ids(v)
    elif isinstance(node, list):
        for v in node:
            out |= ids(v)
    return out
