"""``SessionStore``: create, read, change and list the session files under one root."""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, Field

from store.atomic import atomic_write_bytes, clean_stale_temp_files
from store.codec import UnreadableSessionFile, decode_session, encode_session, read_file_no_follow
from store.errors import (
    CorruptSession,
    InvalidSessionId,
    SessionExists,
    SessionNotFound,
    StoreError,
    UnsupportedSchemaVersion,
)
from store.ids import new_session_id, validate_session_id
from store.locking import locked
from store.paths import Layout
from store.quarantine import QuarantineRecord, quarantine_file
from store.schema import Message, ModelSwitch, Session, as_utc, utc_now
from store.views import rebuild_all_views, remove_views, update_views

T = TypeVar("T")


class SessionSummary(BaseModel):
    """What ``list`` reports per session (cheap to show, no messages)."""

    id: str
    title: str | None
    created_at: datetime
    updated_at: datetime
    current_model: str | None
    models_used: list[str]
    tags: list[str]
    message_count: int


class RefusedFile(BaseModel):
    """A session file left in place untouched: newer than this program, not openable
    (permissions), or named with something that is not a valid session id."""

    path: str
    reason: str


class SessionListing(BaseModel):
    sessions: list[SessionSummary] = Field(default_factory=list)
    quarantined: list[QuarantineRecord] = Field(default_factory=list)
    refused: list[RefusedFile] = Field(default_factory=list)


def _bound(value: datetime | date | None, day_end: time) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        return datetime.combine(value, day_end, tzinfo=timezone.utc)
    return as_utc(value)


def _refuse_bad_name(path: Path) -> RefusedFile | None:
    """A file in sessions/ whose name is no valid id (copied in by hand) is reported, not used."""
    try:
        validate_session_id(path.stem)
    except InvalidSessionId as exc:
        return RefusedFile(path=str(path), reason=f"the file name is not a valid session id; rename it ({exc.why})")
    return None


def summarize(session: Session) -> SessionSummary:
    return SessionSummary(
        id=session.id,
        title=session.title,
        created_at=session.created_at,
        updated_at=session.updated_at,
        current_model=session.current_model,
        models_used=list(session.models_used),
        tags=list(session.tags),
        message_count=len(session.messages),
    )


class _LastWritten:
    """Per session id, the exact bytes this store last wrote and the private object they encode.

    Only ``append_messages`` uses it, under the session lock: when the file still holds
    exactly those bytes (compared in full, so another process, another store object or a
    person editing the file is always noticed), the object stands in for decoding the file,
    which is what makes an append cost O(encode) instead of O(decode + encode). The objects
    are never handed to callers, so nothing outside can change them.
    """

    def __init__(self, size: int) -> None:
        self._entries: OrderedDict[str, tuple[bytes, Session]] = OrderedDict()
        self._guard = threading.Lock()
        self._size = size

    def take(self, session_id: str, current: bytes) -> Session | None:
        """Remove and return the object for ``session_id`` if ``current`` is what was written."""
        with self._guard:
            entry = self._entries.pop(session_id, None)
        if entry is not None and entry[0] == current:
            return entry[1]
        return None

    def put(self, session_id: str, data: bytes, session: Session) -> None:
        with self._guard:
            self._entries[session_id] = (data, session)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


class SessionStore:
    """The session files under ``root`` (default ``.llm_sessions``), the source of truth.

    Every change goes through ``update``: take the per-session lock (threads and
    processes), read the file, change it, write it atomically, refresh the views.
    """

    def __init__(self, root: str | os.PathLike[str] = ".llm_sessions") -> None:
        self.layout = Layout(Path(root))
        self.layout.ensure()
        self._last_written = _LastWritten(size=4)

    @property
    def root(self) -> Path:
        return self.layout.root

    # -- paths ---------------------------------------------------------------------------

    def path_for(self, session_id: str) -> Path:
        """The file of ``session_id`` (validated: never a path outside ``sessions/``)."""
        return self.layout.session_file(validate_session_id(session_id))

    def _lock_path(self, session_id: str) -> Path:
        return self.layout.locks / f"{session_id}.lock"

    def exists(self, session_id: str) -> bool:
        return os.path.lexists(self.path_for(session_id))

    # -- reading -------------------------------------------------------------------------

    def quarantine(self, path: Path, reason: str) -> QuarantineRecord:
        """Move an unreadable file from ``sessions/`` to ``quarantine/`` with its reason."""
        record = quarantine_file(path, self.layout.quarantine, reason)
        remove_views(self.layout, path.stem)
        return record

    def read_file(self, path: Path) -> Session:
        """Read one session file; an unreadable one is quarantined and ``CorruptSession`` raised.

        A file newer than this program raises ``UnsupportedSchemaVersion`` and stays put.
        """
        try:
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                raise UnreadableSessionFile(path, "the session file is a symlink; symlinks in sessions/ are not followed")
            if not stat.S_ISREG(mode):
                raise UnreadableSessionFile(path, "not a regular file (a folder, pipe or device)")
            data = read_file_no_follow(path)
            session = decode_session(data, path)
            if session.id != path.stem:
                raise UnreadableSessionFile(path, f"the file name says id {path.stem!r} but the document says {session.id!r}")
            return session
        except UnreadableSessionFile as exc:
            raise self._quarantine_unreadable(path, exc.reason) from exc
        except OSError as exc:
            if exc.errno in (errno.ENOENT,):
                raise SessionNotFound(path.stem) from exc
            if exc.errno == errno.ELOOP:
                # Replaced by a symlink between the lstat and the open.
                reason = "the session file is a symlink; symlinks in sessions/ are not followed"
                raise self._quarantine_unreadable(path, reason) from exc
            raise

    def _quarantine_unreadable(self, path: Path, reason: str) -> StoreError:
        try:
            record = self.quarantine(path, reason)
        except FileNotFoundError:
            return SessionNotFound(path.stem)  # another reader quarantined it first
        return CorruptSession(path.stem, reason, Path(record.quarantined_path))

    def load(self, session_id: str) -> Session:
        """Return the session, or raise ``SessionNotFound`` / ``CorruptSession`` / ``UnsupportedSchemaVersion``."""
        path = self.path_for(session_id)
        if not os.path.lexists(path):
            raise SessionNotFound(session_id)
        return self.read_file(path)

    def iter_session_files(self) -> Iterator[Path]:
        """The ``*.json`` files in ``sessions/``, sorted by name (temp files excluded)."""
        if not self.layout.sessions.is_dir():
            return iter(())
        return iter(sorted(p for p in self.layout.sessions.iterdir() if p.suffix == ".json" and not p.name.startswith(".")))

    def list(
        self,
        *,
        model: str | None = None,
        tag: str | None = None,
        on_date: date | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> SessionListing:
        """Every readable session matching all given filters, newest update first.

        ``model`` matches any model the session used; ``on_date``/``since``/``until`` look at
        ``created_at`` (UTC; naive times are taken as UTC, ``until`` is inclusive, a datetime
        given as ``on_date`` means its UTC day, a plain date as ``since``/``until`` means the
        start/end of that UTC day). Unreadable files met on the way are quarantined and
        reported; files whose name is not a valid session id are left alone and reported
        in ``refused``.
        """
        listing = SessionListing()
        if isinstance(on_date, datetime):
            on_date = as_utc(on_date).date()
        since_utc = _bound(since, time.min)
        until_utc = _bound(until, time.max)
        for session in self._readable_sessions(listing, refuse_unopenable=True):
            if model is not None and model not in session.models_used and model != session.current_model:
                continue
            if tag is not None and tag not in session.tags:
                continue
            if on_date is not None and session.created_at.date() != on_date:
                continue
            if since_utc is not None and session.created_at < since_utc:
                continue
            if until_utc is not None and session.created_at > until_utc:
                continue
            listing.sessions.append(summarize(session))
        listing.sessions.sort(key=lambda item: item.updated_at, reverse=True)
        return listing

    def _readable_sessions(self, listing: SessionListing, *, refuse_unopenable: bool) -> Iterator[Session]:
        """The sessions in :meth:`iter_session_files` that can be read, in that order.

        The others go into ``listing``: a file whose name is not a valid id or whose schema is
        newer than this program in ``refused`` (left in place), an unreadable one in
        ``quarantined`` (moved by :meth:`read_file`); a file deleted meanwhile is skipped. An
        ``OSError`` such as no permission is put in ``refused`` when ``refuse_unopenable``,
        else raised.
        """
        for path in self.iter_session_files():
            refusal = _refuse_bad_name(path)
            if refusal is not None:
                listing.refused.append(refusal)
                continue
            try:
                session = self.read_file(path)
            except CorruptSession as exc:
                listing.quarantined.append(
                    QuarantineRecord(original_path=str(path), quarantined_path=str(exc.quarantined_to), reason=exc.reason)
                )
                continue
            except UnsupportedSchemaVersion as exc:
                listing.refused.append(RefusedFile(path=str(path), reason=str(exc)))
                continue
            except SessionNotFound:
                continue  # deleted between listing the folder and reading it
            except OSError as exc:
                if not refuse_unopenable:
                    raise
                listing.refused.append(RefusedFile(path=str(path), reason=f"cannot be read: {exc}"))
                continue
            yield session

    # -- writing -------------------------------------------------------------------------

    def _write(self, session: Session, previous: Session | None = None) -> None:
        atomic_write_bytes(self.layout.session_file(session.id), encode_session(session))
        update_views(self.layout, session, previous)

    def create(
        self,
        session_id: str | None = None,
        *,
        title: str | None = None,
        tags: Iterable[str] = (),
        model: str | None = None,
    ) -> Session:
        """Create and write a new, empty session; ``SessionExists`` if the id is taken."""
        if session_id is not None:
            return self._create(validate_session_id(session_id), title, list(tags), model)
        while True:
            try:
                return self._create(new_session_id(), title, list(tags), model)
            except SessionExists:
                continue  # a generated id collided (same second, same random part): draw again

    def _create(self, session_id: str, title: str | None, tags: list[str], model: str | None) -> Session:
        with locked(self._lock_path(session_id)):
            if os.path.lexists(self.layout.session_file(session_id)):
                raise SessionExists(session_id)
            session = Session(id=session_id, title=title, tags=tags, current_model=model)
            session.note_model(model)
            self._write(session)
            return session

    def save_new(self, session: Session, *, replace: bool = False) -> None:
        """Write a complete session built elsewhere (imports, migration).

        Without ``replace`` an existing session with the same id raises ``SessionExists``.
        With ``replace``, an existing file newer than this program raises
        ``UnsupportedSchemaVersion`` (it is never rewritten), an unreadable one is
        quarantined first, and view links of the replaced version are dropped.
        """
        validate_session_id(session.id)
        path = self.layout.session_file(session.id)
        with locked(self._lock_path(session.id)):
            previous: Session | None = None
            if os.path.lexists(path):
                if not replace:
                    raise SessionExists(session.id)
                try:
                    previous = self.read_file(path)
                except (CorruptSession, SessionNotFound):
                    previous = None
            self._write(session, previous)

    def update(self, session_id: str, change: Callable[[Session], T]) -> T:
        """Apply ``change`` to the session under its lock and persist it atomically.

        ``change`` mutates the session in place and may return a value, which is returned.
        If it raises, nothing is written. It must not change ``session.id`` (``ValueError``).
        """
        path = self.path_for(session_id)
        with locked(self._lock_path(session_id)):
            if not os.path.lexists(path):
                raise SessionNotFound(session_id)
            session = self.read_file(path)
            # Only what the views depend on; ``change`` may mutate the lists in place.
            previous = Session.model_construct(
                id=session.id,
                created_at=session.created_at,
                current_model=session.current_model,
                models_used=list(session.models_used),
            )
            result = change(session)
            if session.id != session_id:
                raise ValueError(f"an update must not change the session id ({session_id!r} -> {session.id!r})")
            session.updated_at = utc_now()
            self._write(session, previous)
            return result

    def append_messages(self, session_id: str, messages: Iterable[Message]) -> list[Message]:
        """Append messages in one atomic write; models they name join ``models_used``.

        Returns the given messages. The file holds what they were at the time of the call
        (normalised as a load would give them: UTC times, JSON values); changing the objects
        afterwards does not change the session.
        """
        batch = list(messages)
        stored = [Message.model_validate(message.model_dump(mode="json")) for message in batch]
        path = self.path_for(session_id)
        with locked(self._lock_path(session_id)):
            if not os.path.lexists(path):
                raise SessionNotFound(session_id)
            session = self._session_for_append(session_id, path)
            for message in stored:
                session.note_model(message.model)
                session.messages.append(message)
            session.updated_at = utc_now()
            data = encode_session(session)
            atomic_write_bytes(path, data)
            update_views(self.layout, session)
            self._last_written.put(session_id, data, session)
        return batch

    def _session_for_append(self, session_id: str, path: Path) -> Session:
        try:
            current = read_file_no_follow(path)
        except OSError:
            current = None  # a symlink, a folder...: read_file below quarantines it
        if current is not None:
            cached = self._last_written.take(session_id, current)
            if cached is not None:
                return cached
        return self.read_file(path)

    def append_message(self, session_id: str, message: Message) -> Message:
        return self.append_messages(session_id, [message])[0]

    def set_title(self, session_id: str, title: str | None) -> None:
        def change(session: Session) -> None:
            session.title = title

        self.update(session_id, change)

    def set_tags(self, session_id: str, tags: Iterable[str]) -> None:
        wanted = list(dict.fromkeys(tags))

        def change(session: Session) -> None:
            session.tags = wanted

        self.update(session_id, change)

    def record_model_switch(self, session_id: str, to_model: str, warning: str = "") -> ModelSwitch | None:
        """Make ``to_model`` current; record a ``ModelSwitch`` if it differs from the current one."""

        def change(session: Session) -> ModelSwitch | None:
            return switch_model(session, to_model, warning)

        return self.update(session_id, change)

    def delete(self, session_id: str) -> Path:
        """Move the session file to ``trash/`` (never unlinked) and drop its views."""
        path = self.path_for(session_id)
        with locked(self._lock_path(session_id)):
            if not os.path.lexists(path):
                raise SessionNotFound(session_id)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            self.layout.trash.mkdir(parents=True, exist_ok=True)  # someone may have removed it
            destination = self.layout.trash / f"{session_id}.{stamp}.json"
            os.replace(path, destination)
            remove_views(self.layout, session_id)
            return destination

    def rebuild_views(self) -> SessionListing:
        """Recreate ``by-model/`` and ``by-date/`` from the session files."""
        listing = SessionListing()
        # An unopenable file aborts the rebuild (as it always has) rather than losing its views.
        sessions = list(self._readable_sessions(listing, refuse_unopenable=False))
        rebuild_all_views(self.layout, sessions)
        listing.sessions = [summarize(session) for session in sessions]
        return listing

    def clean_stale_temp_files(self) -> list[Path]:
        """Remove temp files left by writers that crashed (run at start-up).

        Looks in ``sessions/`` and ``quarantine/`` (where reason files are prepared).
        """
        return clean_stale_temp_files(self.layout.sessions) + clean_stale_temp_files(self.layout.quarantine)


def switch_model(session: Session, to_model: str, warning: str = "") -> ModelSwitch | None:
    """Set ``to_model`` as current on an in-memory session; record and return a switch if it changed."""
    previous = session.current_model
    session.note_model(to_model)
    session.current_model = to_model
    if previous is None or previous == to_model:
        return None
    switch = ModelSwitch(at_message=len(session.messages), from_model=previous, to_model=to_model, warning=warning)
    session.model_switches.append(switch)
    return switch
