"""The pages of published traces phones download: fixed blocks, each signed with a detached JWS, made
once per change and kept in memory by each server process (``PresenceCache``)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass

from chaincut.errors import InvalidInput
from chaincut.presence.wire import PAGE_LIMIT, WARNINGS_CONTENT_TYPE
from chaincut.store import Store
from chaincut.store.presence import PresenceKeyRecord
from chaincut.venues.tokens import VenueTokenSigner

__all__ = ["PAGE_LIMIT", "PresenceCache", "PublishedPages", "SignedPage"]

_PAGES_KEPT = 256  # signed pages kept in memory, about 0.3 MB each when full
# How long a server process serves pages from the head it last read: phones asking at once share it,
# and a trace another worker publishes reaches them this much later at most.
_HEAD_SECONDS = 2.0


@dataclass(frozen=True)
class SignedPage:
    """A page of published traces: the JSON body, its detached JWS, and whether it is full (a full
    page never changes, so it may be cached for long)."""

    body: bytes
    signature: str
    full: bool

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


class PresenceCache:
    """What one server process keeps for every ``PresenceAuthority`` it wires (one per policy in
    force): the authority's keys, and the signed pages of published traces by (block, limit, last
    published, first kept, how many kept), made once per change rather than once per phone, with
    the head they were made from."""

    def __init__(self) -> None:
        self.keys: PresenceKeyRecord | None = None
        self.pages: dict[tuple[int, ...], SignedPage] = {}
        self.head: tuple[float, tuple[int, int, int]] | None = None
        self.lock = threading.Lock()


class PublishedPages:
    """The signed pages of published traces, made from the store and kept in the process's cache."""

    def __init__(self, store: Store, signer: VenueTokenSigner, shared: PresenceCache) -> None:
        self._store = store
        self._signer = signer
        self._shared = shared

    def _head(self) -> tuple[int, int, int]:
        """The last trace published and the first kept, read at most every ``_HEAD_SECONDS`` (this
        process forgets it when it publishes). A page made from an older head is still right: it ends
        at the trace its ``next`` names, and the phone asks for the rest next time."""
        now = time.monotonic()
        known = self._shared.head
        if known is not None and now - known[0] < _HEAD_SECONDS:
            return known[1]
        with self._store.read() as uow:
            head = uow.presence.published_head()
        self._shared.head = (now, head)
        return head

    def published(self) -> None:
        """This process published: read the head afresh on the next request."""
        self._shared.head = None

    def forget(self) -> None:
        """Read the published traces afresh on the next request (after a purge)."""
        with self._shared.lock:
            self._shared.head = None
            self._shared.pages.clear()

    def page(self, since: int, limit: int) -> SignedPage:
        """The block of published traces holding the one after ``since``, signed with the poster key.

        Pages are fixed blocks of ``limit`` numbers (``since`` is rounded down to one), so every phone
        asks for one of a few pages, and each is made once: it is kept until a trace is published
        or purged. A phone skips the traces it has (numbers up to its own ``since``).
        """
        if since < 0:
            raise InvalidInput("expected a number of 0 or more", field="since")
        if not 1 <= limit <= PAGE_LIMIT:
            raise InvalidInput(f"expected 1 to {PAGE_LIMIT}", field="limit")
        head = self._head()
        last, first = head[0], head[1]
        # Past the end: the last block. Below the first trace kept (purged): the block holding it.
        since = min(since, last)
        if first and since < first - 1:
            since = first - 1
        block = since - since % limit
        key = (block, limit, *head)
        cached = self._shared.pages.get(key)
        if cached is not None:
            return cached
        with self._store.read() as uow:
            rows = uow.presence.published(block, block + limit)
        more = last > block + limit
        body = json.dumps(
            {
                "since": block,
                "next": block + limit if more else max(block, min(last, block + limit)),
                "more": more,
                "data": [
                    {
                        "seq": r.seq,
                        "hour": r.start_of_interval,
                        "published_at": r.published_at,
                        "trace": base64.b64encode(r.trace).decode("ascii"),
                    }
                    for r in rows
                ],
            },
            separators=(",", ":"),
        ).encode("utf-8")
        page = SignedPage(
            body, self._signer.sign_detached(body, WARNINGS_CONTENT_TYPE), last >= block + limit
        )
        with self._shared.lock:
            if len(self._shared.pages) >= _PAGES_KEPT:
                self._shared.pages.pop(next(iter(self._shared.pages)))
            self._shared.pages[key] = page
        return page
