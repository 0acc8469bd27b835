"""Password hashing, the users table and the audit log."""

from __future__ import annotations

import psycopg
import pytest
from flask import Flask
from psycopg_pool import ConnectionPool

from dashboards.auth import AuthStore, hash_password, install_login, safe_next, verify_password


def test_hash_round_trip() -> None:
    stored = hash_password("Mật khẩu có dấu 123")
    assert stored.startswith("scrypt$16384$8$1$")
    assert verify_password("Mật khẩu có dấu 123", stored)
    assert not verify_password("Mat khau co dau 123", stored)


def test_same_password_gets_a_new_salt_each_time() -> None:
    assert hash_password("same-password") != hash_password("same-password")


@pytest.mark.parametrize(
    "stored",
    ["", "plain-text", "bcrypt$1$2$3$abc$def", "scrypt$16384$8$1$not base64!$AAAA", "scrypt$x$8$1$AAAA$AAAA"],
)
def test_malformed_hashes_never_match(stored: str) -> None:
    assert not verify_password("anything", stored)


@pytest.mark.parametrize(
    ("target", "followed"),
    [
        ("/", "/"),
        ("/?lang=en", "/?lang=en"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/login", "/"),
        ("", "/"),
    ],
)
def test_only_local_paths_are_followed_after_sign_in(target: str, followed: str) -> None:
    assert safe_next(target) == followed


def test_a_short_secret_key_is_refused(pool: ConnectionPool) -> None:
    with pytest.raises(ValueError, match="IOC_SECRET_KEY"):
        install_login(Flask("x"), AuthStore(pool), secret_key="short", default_lang="vi", site_name="x")


def test_ensure_user_creates_then_updates(pool: ConnectionPool, pg_dsn: str) -> None:
    store = AuthStore(pool)
    store.ensure_user("Lanh.Dao", "first-password", "leader", ["03172", "03181"])
    user = store.verify("lanh.dao", "first-password")
    assert user is not None and user.role == "leader" and user.unit_scopes == ("03172", "03181")

    store.ensure_user("lanh.dao", "second-password", "admin")
    assert store.verify("LANH.DAO", "first-password") is None
    again = store.verify("lanh.dao", "second-password")
    assert again is not None and again.role == "admin" and again.unit_scopes == ()
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute(
            "SELECT count(*), min(password_hash) FROM users WHERE username = 'lanh.dao'"
        ).fetchone()
    assert row is not None and row[0] == 1 and "second-password" not in row[1]


def test_unknown_user_is_refused(pool: ConnectionPool) -> None:
    assert AuthStore(pool).verify("nobody-here", "whatever-password") is None


@pytest.mark.parametrize(
    ("username", "password", "role"),
    [("", "long-enough", "operator"), ("a", "short", "operator"), ("a", "long-enough", "root")],
)
def test_ensure_user_rejects_bad_input(pool: ConnectionPool, username: str, password: str, role: str) -> None:
    with pytest.raises(ValueError):
        AuthStore(pool).ensure_user(username, password, role)  # type: ignore[arg-type]


def test_audit_log_keeps_detail(pool: ConnectionPool, pg_dsn: str) -> None:
    AuthStore(pool).record("truc.ban", "acknowledge", "flood:NS-01:level", {"note": "đã gọi xã"})
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute(
            "SELECT target, detail->>'note' FROM audit_log WHERE action = 'acknowledge'"
        ).fetchone()
    assert row == ("flood:NS-01:level", "đã gọi xã")
