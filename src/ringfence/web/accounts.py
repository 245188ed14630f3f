"""Users, roles, sessions and tokens: who may do what, and proof of who is asking.

Passwords are hashed with argon2 (pwdlib). A session or a token is a random secret given to
the client once; the database keeps only its SHA-256, so a stolen database opens nothing,
and a row's `revoked_at` ends it at once in every server process. Failed logins are kept
in the database, so the rate limit holds across processes too.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pwdlib import PasswordHash

from ringfence.store import Store, UsageError
from ringfence.store.dialect import q
from ringfence.store.migrations import (
    LOGIN_FAILURES_TABLE,
    SESSIONS_TABLE,
    TOKENS_TABLE,
    USERS_TABLE,
)

ROLES = (
    "admin", "epidemiologist", "tracer", "lab", "site", "loop_manager", "analyst", "member",
    "public",
)  # fmt: skip
"""The roles of DESIGN.md; `public` is everyone not logged in."""

SESSION_HOURS = 12
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_FAILURES_ALLOWED = 5
"""More failed logins than this for one user within `LOGIN_WINDOW` are refused for a while."""

_hasher = PasswordHash.recommended()


@dataclass(frozen=True)
class Caller:
    """Who is asking: a user with a role (and, for a member, their own person id), or the
    public. `csrf_token` is set for a browser session (forms must echo it)."""

    username: str | None
    role: str
    person_id: str | None = None
    csrf_token: str | None = None
    session_hash: str | None = None

    @property
    def actor(self) -> str:
        """The name the audit trail records."""
        return self.username or "public"


PUBLIC = Caller(None, "public")


class LoginRefused(Exception):
    """Wrong user name or password (which one is never said)."""


class TooManyLogins(Exception):
    """Too many failed logins for this user lately; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


def digest(secret: str) -> str:
    """What the database keeps of a session or token secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def add_user(store: Store, username: str, role: str, password: str,
             person_id: str | None = None) -> None:  # fmt: skip
    """Create a user (a member must name the person they are)."""
    if role not in ROLES or role == "public":
        raise UsageError(f"unknown role {role!r}; roles: {', '.join(ROLES[:-1])}")
    if role == "member" and not person_id:
        raise UsageError("a member is a person: give --person PERSON_ID")
    if len(password) < 12:
        raise UsageError("a password needs at least 12 characters")
    with store.transaction():
        if store.fetchall(f"SELECT 1 FROM {USERS_TABLE} WHERE username = ?", (username,)):
            raise UsageError(f"user {username!r} exists already")
        store.execute(
            f"INSERT INTO {USERS_TABLE} VALUES (?, ?, ?, ?, ?, NULL)",
            (username, role, person_id, _hasher.hash(password), _now()),
        )


def remove_user(store: Store, username: str) -> None:
    """Remove a user: their sessions and tokens end now; the row stays for the audit trail."""
    now = _now()
    with store.transaction():
        if not store.fetchall(
            f"SELECT 1 FROM {USERS_TABLE} WHERE username = ? AND removed_at IS NULL", (username,)
        ):
            raise UsageError(f"no user {username!r}")
        store.execute(
            f"UPDATE {USERS_TABLE} SET removed_at = ? WHERE username = ?", (now, username)
        )
        revoke_sessions(store, username, now)
        store.execute(
            f"UPDATE {TOKENS_TABLE} SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL",
            (now, username),
        )


def revoke_sessions(store: Store, username: str, at: datetime | None = None) -> None:
    """End every open session of a user."""
    store.execute(
        f"UPDATE {SESSIONS_TABLE} SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL",
        (at or _now(), username),
    )


def _user(store: Store, username: str) -> dict[str, object] | None:
    rows = store.fetch_records(
        f"SELECT username, role, person_id, password_hash FROM {USERS_TABLE} "
        "WHERE username = ? AND removed_at IS NULL",
        (username,),
    )
    return rows[0] if rows else None


def log_in(store: Store, username: str, password: str) -> tuple[str, Caller]:
    """Check a password and open a session: returns the session secret (for the cookie)
    and the caller. Refused with `TooManyLogins` after repeated failures."""
    now = _now()
    since = now - LOGIN_WINDOW
    at = q("at")
    failures = store.fetchall(
        f"SELECT count(*), min({at}) FROM {LOGIN_FAILURES_TABLE} WHERE username = ? AND {at} > ?",
        (username, since),
    )[0]
    if int(failures[0]) >= LOGIN_FAILURES_ALLOWED:
        oldest = failures[1]
        retry = int((oldest + LOGIN_WINDOW - now).total_seconds()) + 1 if oldest else 60
        raise TooManyLogins(max(retry, 1))
    user = _user(store, username)
    # Verify against a dummy hash when the user is unknown, so timing does not tell.
    stored = str(user["password_hash"]) if user else _DUMMY_HASH
    if not _hasher.verify(password, stored) or user is None:
        with store.transaction():
            store.execute(f"INSERT INTO {LOGIN_FAILURES_TABLE} VALUES (?, ?)", (username, now))
        raise LoginRefused()
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with store.transaction():
        store.execute(
            f"INSERT INTO {SESSIONS_TABLE} VALUES (?, ?, ?, ?, ?, NULL)",
            (digest(secret), username, csrf, now, now + timedelta(hours=SESSION_HOURS)),
        )
        store.execute(f"DELETE FROM {LOGIN_FAILURES_TABLE} WHERE username = ?", (username,))
    caller = Caller(username, str(user["role"]), _text(user["person_id"]), csrf, digest(secret))
    return secret, caller


_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def session_caller(store: Store, secret: str) -> Caller | None:
    """The caller of an open, unexpired, unrevoked session (None otherwise)."""
    rows = store.fetch_records(
        f"SELECT s.username, s.csrf_token, u.role, u.person_id FROM {SESSIONS_TABLE} s "
        f"JOIN {USERS_TABLE} u ON u.username = s.username WHERE s.session_hash = ? "
        "AND s.revoked_at IS NULL AND s.expires_at > ? AND u.removed_at IS NULL",
        (digest(secret), _now()),
    )
    if not rows:
        return None
    r = rows[0]
    return Caller(str(r["username"]), str(r["role"]), _text(r["person_id"]),
                  str(r["csrf_token"]), digest(secret))  # fmt: skip


def log_out(store: Store, caller: Caller) -> None:
    """End the caller's session."""
    if caller.session_hash:
        with store.transaction():
            store.execute(
                f"UPDATE {SESSIONS_TABLE} SET revoked_at = ? WHERE session_hash = ?",
                (_now(), caller.session_hash),
            )


def issue_token(store: Store, username: str, scopes: str = "") -> str:
    """A bearer token for a machine client of `username` (a lab system): shown once."""
    if _user(store, username) is None:
        raise UsageError(f"no user {username!r}")
    token_id = secrets.token_hex(6)
    secret = f"rf_{token_id}_{secrets.token_urlsafe(32)}"
    with store.transaction():
        store.execute(
            f"INSERT INTO {TOKENS_TABLE} VALUES (?, ?, ?, ?, ?, NULL)",
            (token_id, digest(secret), username, scopes, _now()),
        )
    return secret


def revoke_token(store: Store, token_id: str) -> None:
    """End a token (by the id shown in its text, `rf_<id>_…`)."""
    with store.transaction():
        if not store.fetchall(
            f"SELECT 1 FROM {TOKENS_TABLE} WHERE token_id = ? AND revoked_at IS NULL", (token_id,)
        ):
            raise UsageError(f"no open token {token_id!r}")
        store.execute(
            f"UPDATE {TOKENS_TABLE} SET revoked_at = ? WHERE token_id = ?", (_now(), token_id)
        )


def token_caller(store: Store, secret: str) -> Caller | None:
    """The caller of an unrevoked bearer token of a current user (None otherwise)."""
    rows = store.fetch_records(
        f"SELECT t.username, u.role, u.person_id FROM {TOKENS_TABLE} t JOIN {USERS_TABLE} u "
        "ON u.username = t.username WHERE t.token_hash = ? AND t.revoked_at IS NULL "
        "AND u.removed_at IS NULL",
        (digest(secret),),
    )
    if not rows:
        return None
    r = rows[0]
    return Caller(str(r["username"]), str(r["role"]), _text(r["person_id"]))
