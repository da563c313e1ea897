"""API keys in the durable store: create (the secret is returned once), list, revoke, look up.

A key is ``hk_`` plus 256 random bits; only its SHA-256 is stored. A salted slow hash would add
nothing for a secret of that entropy, and a lookup stays one indexed read.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hybrid_core.errors import Conflict, InvalidInput, NotFound
from job_store.jobs import utcnow
from job_store.models import ApiKey

KEY_PREFIX = "hk_"
SCOPES = frozenset({"jobs", "admin"})
"""``jobs``: submit and read jobs, forecasts and models. ``admin``: rollout writes."""
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class KeyRecord:
    """What a key may do, without its secret."""

    name: str
    tenant: str
    scopes: frozenset[str]
    revoked: bool
    rate_per_s: float | None = None
    max_in_flight: int | None = None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _record(row: ApiKey) -> KeyRecord:
    revoked = row.revoked_at is not None
    return KeyRecord(row.name, row.tenant, frozenset(row.scopes), revoked, row.rate_per_s, row.max_in_flight)


class KeyStore:
    """API keys in the database."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(
        self,
        name: str,
        scopes: Iterable[str],
        tenant: str | None = None,
        *,
        rate_per_s: float | None = None,
        max_in_flight: int | None = None,
    ) -> str:
        """Store a new key named ``name`` and return its secret (shown once, never stored).

        ``rate_per_s`` / ``max_in_flight``: this key's limits (None: the API's defaults).
        """
        wanted = frozenset(scopes)
        for field, value in (("name", name), ("tenant", tenant or name)):
            if not NAME_PATTERN.fullmatch(value):
                raise InvalidInput(f"{field} {value!r}: lower-case letters, digits, '_' and '-'", field=field)
        if not wanted or not wanted <= SCOPES:
            raise InvalidInput(f"scopes must be among {sorted(SCOPES)}", field="scopes")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(
            name=name,
            tenant=tenant or name,
            key_hash=hash_key(key),
            scopes=sorted(wanted),
            rate_per_s=rate_per_s,
            max_in_flight=max_in_flight,
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError as exc:
            raise Conflict(f"a key named {name!r} exists", field="name") from exc
        return key

    def list(self) -> list[KeyRecord]:
        with self._sessions() as session:
            return [_record(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.name))]

    def revoke(self, name: str) -> None:
        """Revoke the key ``name``; NotFound when there is none."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(ApiKey).where(ApiKey.name == name).values(revoked_at=utcnow()).returning(ApiKey.name)
            )
            if result.first() is None:
                raise NotFound(f"no key named {name!r}", field="name")

    def find(self, key: str) -> KeyRecord | None:
        """The record of ``key``, revoked or not; None for an unknown key."""
        with self._sessions() as session:
            row = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
            return None if row is None else _record(row)


class KeyCache:
    """Looked-up keys for ``ttl_s``: a request costs no database read, a revocation lands within ttl_s."""

    def __init__(self, keys: KeyStore, ttl_s: float) -> None:
        self._keys = keys
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, KeyRecord | None]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> tuple[bool, KeyRecord | None]:
        """(True, record) when a fresh lookup of ``key`` is cached, else (False, None)."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry[0] < self._ttl_s:
            return True, entry[1]
        return False, None

    def find(self, key: str) -> KeyRecord | None:
        """The record of ``key`` (None: unknown), from the cache or the database."""
        hit, record = self.cached(key)
        if hit:
            return record
        now = time.monotonic()
        record = self._keys.find(key)
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = (now, record)
        return record
