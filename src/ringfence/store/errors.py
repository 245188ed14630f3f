"""The errors the store raises: each one a sentence a health officer can act on."""

from __future__ import annotations


class StoreError(Exception):
    """A database cannot be opened, read or written; the message says why and what to do."""


class StoreBusy(StoreError):
    """Another process holds the embedded database for writing (e.g. `ringfence serve`)."""


class SchemaTooNew(StoreError):
    """The database was written by a newer ringfence than this one."""


class UsageError(StoreError):
    """The call itself is wrong (unknown table, missing file, bad option); nothing was read."""
