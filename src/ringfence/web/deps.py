"""What every route depends on: the store, and who is asking (and whether they may)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from ringfence.store import Store

from . import accounts
from .access import allowed
from .accounts import PUBLIC, Caller
from .centre import CentreCache

SESSION_COOKIE = "rf_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


POOL_SIZE = 8
"""Connections a server process keeps: enough to keep two cores busy while some requests
wait on the network, few enough that several processes stay far below PostgreSQL's limit
on connections (100 by default)."""


class Database:
    """The store as the server's threads use it: a bounded pool of connections of its own
    (DuckDB cursors on the open file, or PostgreSQL connections), each used by one request at
    a time, so that requests are answered in parallel; changes (ingest, a login, a cycle run)
    take turns, one at a time in this process (DuckDB has one writer; several server
    processes on PostgreSQL rely on its own locks and unique keys)."""

    def __init__(self, store: Store, size: int = POOL_SIZE) -> None:
        self.store = store
        self.centre = CentreCache()
        self._write = threading.Lock()
        self._idle: list[Store] = []
        self._opened: list[Store] = []
        self._free = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()

    @contextmanager
    def _connection(self) -> Iterator[Store]:
        """A connection of the pool for the block (opened when none is idle; a request
        waits when all are in use)."""
        with self._free:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                connection = self.store.sibling()
                with self._lock:
                    self._opened.append(connection)
            try:
                yield connection
            finally:
                with self._lock:
                    self._idle.append(connection)

    @contextmanager
    def use(self) -> Iterator[Store]:
        """A connection for reading (and appending to the audit trail), for the block."""
        with self._connection() as connection:
            yield connection

    @contextmanager
    def writing(self) -> Iterator[Store]:
        """A connection for changing the database, the only writer of this process for the
        block."""
        with self._write, self._connection() as connection:
            yield connection

    @property
    def connections(self) -> int:
        """How many connections the pool has opened."""
        return len(self._opened)

    def close(self) -> None:
        """Close the pool's connections (the store itself stays with its owner)."""
        with self._lock:
            for opened in self._opened:
                opened.close()
            self._opened.clear()
            self._idle.clear()


def _caller_of(request: Request) -> Caller:
    """Who is asking: a bearer token, a session cookie, or the public."""
    database: Database = request.app.state.database
    header = request.headers.get("authorization", "")
    with database.use() as s:
        if header.lower().startswith("bearer "):
            found = accounts.token_caller(s, header[7:].strip())
            if found is None:
                raise HTTPException(401, "the bearer token is unknown or revoked")
            return found
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            session = accounts.session_caller(s, cookie)
            if session is not None:
                return session
    return PUBLIC


async def authorised(request: Request) -> Caller:
    """The caller, if the access table lets their role call this route (and, for a change
    made from a browser session, if the request carries the session's CSRF token)."""
    # A database read: off the event loop, so that one slow lookup holds up no one else.
    caller = await run_in_threadpool(_caller_of, request)
    route = request.scope.get("route")
    name = getattr(route, "name", "")
    if not allowed(name, caller.role):
        if caller.role == "public":
            raise HTTPException(401, "log in first")
        raise HTTPException(403, f"the role {caller.role} may not do this")
    if request.method not in SAFE_METHODS and caller.session_hash is not None:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and "form" in request.headers.get("content-type", ""):
            sent = str((await request.form()).get("csrf_token") or "")
        if not sent or sent != caller.csrf_token:
            raise HTTPException(403, "missing or wrong CSRF token")
    return caller


Who = Annotated[Caller, Depends(authorised)]


def wants_html(request: Request) -> bool:
    """Whether the caller is a browser reading pages (not an API client)."""
    return "text/html" in request.headers.get("accept", "")
