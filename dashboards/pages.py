"""The pages of the dashboards and who may see them: a tiny registry that ``create_app`` routes with.

A module registers its pages once at import or from its ``register_pages()``::

    register(Page("/leaders", "leaders.title", frozenset({"leader", "admin"}), leaders_layout))

``create_app`` puts a ``dcc.Location`` in the shell and, on every change of path, asks ``page_for`` which
page answers it; a page the session's role may not see answers like a missing one (never its layout).
Layouts are built per request, in the reader's language and for the signed-in ``User`` (role and unit
scopes), so a page can leave out what the user's scope does not cover. Registering a path again replaces the
earlier page, so building several apps in one process (tests) is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dash import dcc, html
from dash.development.base_component import Component

from dashboards.auth import ROLES, User, current_session

ALL_ROLES: frozenset[str] = frozenset(ROLES)
WALL_ROLES: frozenset[str] = ALL_ROLES  # operators, leaders (read-only) and admins look at the wall
# Who may do what besides seeing a page; routes and callbacks check these, not the page list.
ACKNOWLEDGE_ROLES: frozenset[str] = frozenset({"operator", "admin"})
EXPORT_ROLES: frozenset[str] = frozenset({"leader", "admin"})

Layout = Callable[[str, User], Component]


@dataclass(frozen=True)
class Page:
    """One page: its path, the i18n key of its title (for the navigation), the roles that see it, its layout.

    ``rotates`` says whether an unattended wall (``?rotate=60``) cycles through it.
    """

    path: str
    title_key: str
    roles: frozenset[str]
    layout: Layout
    rotates: bool = True

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or (self.path != "/" and self.path.endswith("/")):
            raise ValueError(f"a page path starts with / and has no trailing /, not {self.path!r}")
        unknown = set(self.roles) - ALL_ROLES
        if unknown or not self.roles:
            raise ValueError(f"page {self.path}: roles must be a non-empty subset of {sorted(ALL_ROLES)}")


_PAGES: dict[str, Page] = {}


def register(page: Page) -> Page:
    """Add a page (or replace the one at its path); pages keep the order of their first registration."""
    _PAGES[page.path] = page
    return page


def unregister(path: str) -> None:
    """Remove the page at a path, if any (a plug-in taken out, a test's own page)."""
    _PAGES.pop(normalise_path(path), None)


def registered() -> list[Page]:
    """Return every registered page, in registration order."""
    return list(_PAGES.values())


def may_see(page: Page, user: User | None) -> bool:
    """Return whether a user may see a page (nobody without a session)."""
    return user is not None and user.role in page.roles


def visible_pages(user: User | None) -> list[Page]:
    """Return the pages this user may see, in registration order (what the navigation shows)."""
    return [p for p in _PAGES.values() if may_see(p, user)]


def rotation(user: User | None) -> list[str]:
    """Return the paths an unattended wall signed in as this user cycles through."""
    return [p.path for p in visible_pages(user) if p.rotates]


def normalise_path(pathname: str | None) -> str:
    """Return a browser path the way pages are registered: no trailing slash, '/' for nothing."""
    path = (pathname or "/").split("?", 1)[0].split("#", 1)[0]
    return path.rstrip("/") or "/"


def page_for(pathname: str | None, user: User | None) -> Page | None:
    """Return the page at a path if this user may see it, else None (the same answer as for no such page)."""
    page = _PAGES.get(normalise_path(pathname))
    return page if page is not None and may_see(page, user) else None


def session_user() -> User | None:
    """Return the signed-in user of the current Flask request (role and unit scopes), or None."""
    view = current_session()
    if view is None:
        return None
    return User(view.username, view.role, view.unit_scopes, view.kind == "kiosk")


def listing_page(name: str, title: str, refresh_ms: int) -> html.Main:
    """A page of one full-width panel whose list is refreshed every ``refresh_ms`` (the deliveries, the signals).

    Its ids: ``<name>-tick`` (the interval), ``<name>-read-at`` (when the list was last read), ``<name>-count``
    and ``<name>-age`` in the heading, and ``<name>`` (the list, of class ``<name>``).
    """
    return html.Main(
        className="page-single",
        children=[
            dcc.Interval(id=f"{name}-tick", interval=refresh_ms),
            dcc.Store(id=f"{name}-read-at"),
            html.Section(
                className="panel panel-full",
                children=[
                    html.Div(
                        className="panel-head",
                        children=[
                            html.H2(title),
                            html.Span(id=f"{name}-count", className="count"),
                            html.Span(id=f"{name}-age", className="age"),
                        ],
                    ),
                    html.Div(id=name, className=name),
                ],
            ),
        ],
    )
