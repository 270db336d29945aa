"""``SessionStore``: create, read, change and list the session files under one root."""

from __future__ import annotations

import errno
import operator
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from store.atomic import atomic_write_bytes, clean_stale_temp_files
from store.branches import forked_from, group_of
from store.codec import UnreadableSessionFile, decode_session, encode_appended, encode_session, read_file_no_follow
from store.errors import (
    CorruptSession,
    InvalidSessionId,
    SessionExists,
    SessionNotFound,
    SessionQuarantined,
    StoreError,
    UnsupportedSchemaVersion,
)
from store.gitignore import ensure_gitignore
from store.ids import new_session_id, validate_session_id
from store.locking import locked
from store.paths import Layout
from store.quarantine import QuarantineRecord, find_quarantined, quarantine_file
from store.schema import Message, ModelSwitch, Session, Summary, as_utc, total_cost, utc_now
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
    #: the summed price of the answers in USD (None: no answer has a known price), and how
    #: many answers have no known price (then ``cost_usd`` is a lower bound)
    cost_usd: float | None = None
    unpriced_answers: int = 0
    group_id: str | None = None  # shared by the sessions of one ask_models call (store/branches.py)
    forked_from: str | None = None  # the session this one was branched from


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
    cost, unpriced = total_cost(session.messages)
    return SessionSummary(
        id=session.id,
        title=session.title,
        created_at=session.created_at,
        updated_at=session.updated_at,
        current_model=session.current_model,
        models_used=list(session.models_used),
        tags=list(session.tags),
        message_count=len(session.messages),
        cost_usd=cost,
        unpriced_answers=unpriced,
        group_id=group_of(session),
        forked_from=forked_from(session),
    )


ViewKey = tuple[str, str | None, tuple[str, ...]]


def view_key(session: Session) -> ViewKey:
    """What the view links of ``session`` depend on: its creation day, current model and models used."""
    return (f"{session.created_at:%Y-%m-%d}", session.current_model, tuple(session.models_used))


# Top-level containers a change may append to or assign; copied so the original stays as it was.
_LIST_FIELDS = ("tags", "models_used", "messages", "model_switches", "summaries")
_DICT_FIELDS = ("tool_state", "extensions", "extra")


def working_copy(session: Session) -> Session:
    """A shallow copy of ``session`` whose top-level lists and dicts are its own.

    Appending to or assigning fields of the copy leaves ``session`` unchanged; the items
    (messages, switches, summaries) are shared, so they must not be changed in place. Costs
    O(number of items) pointer copies, no validation.
    """
    update: dict[str, object] = {name: list(getattr(session, name)) for name in _LIST_FIELDS}
    update.update((name, dict(getattr(session, name))) for name in _DICT_FIELDS)
    return session.model_copy(update=update)


_ITEM_LISTS = ("messages", "model_switches", "summaries")


def _appended(old: list[T], new: list[T]) -> int | None:
    """How many items ``new`` adds after ``old`` if it starts with exactly ``old``'s objects, else None."""
    # map(operator.is_) runs in C: this is called on every turn over every message.
    if len(new) < len(old) or not all(map(operator.is_, old, new)):
        return None
    return len(new) - len(old)


def _normalised(item: T) -> T:
    return type(item).model_validate(item.model_dump(mode="json"))  # type: ignore[attr-defined,no-any-return]


def as_decoded(previous: Session, session: Session) -> Session:
    """``session`` (a changed working copy of ``previous``) as decoding its encoded bytes gives it.

    Items taken over from ``previous`` (already in that form) are kept as they are; new items and
    the top-level fields go through their JSON form once (UTC times, JSON values), so a cached
    object never differs from what a reader of the file would see. O(new items) validation.
    """
    lists: dict[str, list[object]] = {}
    for name in _ITEM_LISTS:
        old, new = getattr(previous, name), getattr(session, name)
        added = _appended(old, new)
        if added is not None:
            lists[name] = [*old, *(_normalised(item) for item in new[len(old) :])]
        else:
            known = {id(item) for item in old}
            lists[name] = [item if id(item) in known else _normalised(item) for item in new]
    head = Session.model_validate(session.model_dump(mode="json", exclude=set(_ITEM_LISTS)))
    return head.model_copy(update=lists)


@dataclass(frozen=True)
class SessionSnapshot:
    """A session and the exact bytes of its file it was decoded from.

    ``session`` may be shared with this store's cache and with other callers: treat it as
    read-only (never mutate it or its items). ``data`` is what the file held when it was read.
    """

    session: Session
    data: bytes
    path: Path


@dataclass(frozen=True)
class Appended:
    """How a write extended the file before it, for a reader that mirrors the file (the index).

    The file held exactly ``previous_data`` when the write began (under the lock) and the new
    session is that one with ``messages`` messages and ``switches`` model switches added at the
    end (the older items are the same objects); ``stat`` is the new file's, taken right after
    the rename, so a reader can tell whether the file is still the one written.
    """

    previous_data: bytes
    stat: os.stat_result
    messages: int
    switches: int


@dataclass(frozen=True)
class UpdateResult(Generic[T]):
    """What :meth:`SessionStore.update_shared` wrote: ``change``'s return value, the session as
    written (read-only, shared like a :class:`SessionSnapshot`) and the exact bytes written;
    ``appended`` when the write only added messages/switches after the previous file (else None)."""

    result: T
    session: Session
    data: bytes
    path: Path
    appended: Appended | None = None


@dataclass(frozen=True)
class _Entry:
    data: bytes
    session: Session
    # The view key whose links this store made sure of when it wrote ``data`` (None: only read).
    views: ViewKey | None


class _LastWritten:
    """Per session id, the exact bytes this store last wrote or read and the object they decode to.

    A lookup hands the object out only when the file holds exactly those bytes now (compared
    in full, so a change by another process, another store object or a person editing the
    file is always noticed): that is what lets a turn skip decoding the file. The objects are
    never mutated once stored (writers change a :func:`working_copy`), so they can be shared
    read-only with callers of ``snapshot`` and ``update_shared``.
    """

    def __init__(self, size: int) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._guard = threading.Lock()
        self._size = size

    def get(self, session_id: str, current: bytes | None) -> _Entry | None:
        """The entry for ``session_id`` if ``current`` is exactly its bytes, else None."""
        if current is None:
            return None
        with self._guard:
            entry = self._entries.get(session_id)
            if entry is not None:
                self._entries.move_to_end(session_id)
        if entry is not None and entry.data == current:
            return entry
        return None

    def put(self, session_id: str, data: bytes, session: Session, views: ViewKey | None = None) -> None:
        with self._guard:
            self._entries[session_id] = _Entry(data, session, views)
            self._entries.move_to_end(session_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


def _encode_after(entry: _Entry | None, session: Session) -> bytes:
    """``encode_session(session)``, reusing the bytes of the old messages when only new ones were added.

    Only bytes this store encoded itself (``entry.views`` set) have the exact layout reused.
    """
    if entry is not None and entry.views is not None:
        added = _appended(entry.session.messages, session.messages)
        if added is not None:
            data = encode_appended(entry.data, session, added)
            if data is not None:
                return data
    return encode_session(session)


def _read_regular(path: Path) -> bytes | None:
    """The bytes of ``path`` if it is a regular file (not a symlink, folder, pipe or device), else None."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        return read_file_no_follow(path)
    except OSError:
        return None


class SessionStore:
    """The session files under ``root`` (default ``.llm_sessions``), the source of truth.

    Every change goes through ``update``: take the per-session lock (threads and
    processes), read the file, change it, write it atomically, refresh the views.
    """

    def __init__(self, root: str | os.PathLike[str] = ".llm_sessions") -> None:
        self.layout = Layout(Path(root))
        self.layout.ensure()
        ensure_gitignore(self.layout.root)
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
        return self._read_checked(path)[1]

    def _read_checked(self, path: Path, known: bytes | None = None) -> tuple[bytes, Session]:
        """:meth:`read_file`, also returning the bytes the session was decoded from.

        ``known``: the bytes ``_read_regular`` just read from ``path`` (a regular file, not followed).
        """
        try:
            if known is not None:
                data = known
            else:
                mode = os.lstat(path).st_mode
                if stat.S_ISLNK(mode):
                    raise UnreadableSessionFile(path, "the session file is a symlink; symlinks in sessions/ are not followed")
                if not stat.S_ISREG(mode):
                    raise UnreadableSessionFile(path, "not a regular file (a folder, pipe or device)")
                data = read_file_no_follow(path)
            session = decode_session(data, path)
            if session.id != path.stem:
                raise UnreadableSessionFile(path, f"the file name says id {path.stem!r} but the document says {session.id!r}")
            return data, session
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

    def not_found(self, session_id: str) -> SessionNotFound:
        """The error for an id with no file: ``SessionQuarantined`` (where the file went, how to
        restore it) when its unreadable file was moved to quarantine, else ``SessionNotFound``."""
        record = find_quarantined(self.layout.quarantine, self.path_for(session_id).name)
        if record is None:
            return SessionNotFound(session_id)
        original = Path(record.original_path) if record.original_path else self.path_for(session_id)
        return SessionQuarantined(session_id, Path(record.quarantined_path), record.reason, original)

    def load(self, session_id: str) -> Session:
        """Return the session, or raise ``SessionNotFound`` / ``CorruptSession`` / ``UnsupportedSchemaVersion``."""
        path = self.path_for(session_id)
        if not os.path.lexists(path):
            raise self.not_found(session_id)
        return self.read_file(path)

    def snapshot(self, session_id: str) -> SessionSnapshot:
        """The session and the bytes of its file, for reading only (see :class:`SessionSnapshot`).

        Raises like :meth:`load`. The file is read in full every time; it is decoded only when
        its bytes differ from the ones this store last wrote or read for the id, so a change
        made by anyone else is always seen. Use :meth:`load` for a session you want to change.
        """
        path = self.path_for(session_id)
        if not os.path.lexists(path):
            raise self.not_found(session_id)
        current = _read_regular(path)
        entry = self._last_written.get(session_id, current)
        if entry is not None:
            return SessionSnapshot(entry.session, entry.data, path)
        data, session = self._read_checked(path, current)
        self._last_written.put(session_id, data, session)
        return SessionSnapshot(session, data, path)

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
        tags = list(tags)

        def empty(new_id: str) -> Session:
            session = Session(id=new_id, title=title, tags=tags, current_model=model)
            session.note_model(model)
            return session

        if session_id is not None:
            session = empty(validate_session_id(session_id))
            self.save_new(session)
            return session
        return self.create_new(empty)

    def create_new(self, build: Callable[[str], Session]) -> Session:
        """Write ``build(new_id)`` under a freshly drawn id and return it.

        ``build`` gets the id and returns the complete session (e.g. a branch of another one);
        a drawn id that is already taken (same second, same random part) is drawn again.
        """
        while True:
            session = build(new_session_id())
            try:
                self.save_new(session)
            except SessionExists:
                continue
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
        The session ``change`` sees is decoded from the file for this call alone, so it may
        change anything, items included.
        """
        path = self.path_for(session_id)
        with locked(self._lock_path(session_id)):
            if not os.path.lexists(path):
                raise SessionNotFound(session_id)
            previous = self.read_file(path)
            # The copy is changed; ``previous`` keeps what the views were made from.
            session = working_copy(previous)
            result = change(session)
            if session.id != session_id:
                raise ValueError(f"an update must not change the session id ({session_id!r} -> {session.id!r})")
            session.updated_at = utc_now()
            self._write(session, previous)
            return result

    def update_shared(self, session_id: str, change: Callable[[Session], T]) -> UpdateResult[T]:
        """Like :meth:`update`, but cheaper for appends, and returns what was written.

        ``change`` gets a :func:`working_copy`: it may assign fields and append to or replace
        the top-level lists and dicts, but must NOT change existing items (messages, switches,
        summaries) in place, because they are shared with earlier snapshots. When the file
        still holds exactly the bytes this store last wrote or read (compared in full under
        the lock), it is not decoded again, and the view links are not checked again if the
        models and the creation day did not change. The returned session is shared read-only.
        """
        path = self.path_for(session_id)
        with locked(self._lock_path(session_id)):
            if not os.path.lexists(path):
                raise SessionNotFound(session_id)
            current = _read_regular(path)
            entry = self._last_written.get(session_id, current)
            previous = entry.session if entry is not None else self._read_checked(path, current)[1]
            session = working_copy(previous)
            result = change(session)
            if session.id != session_id:
                raise ValueError(f"an update must not change the session id ({session_id!r} -> {session.id!r})")
            session.updated_at = utc_now()
            messages = _appended(previous.messages, session.messages)
            switches = _appended(previous.model_switches, session.model_switches)
            session = as_decoded(previous, session)
            data = self._write_known(path, session, previous, entry)
            appended = None
            if current is not None and messages is not None and switches is not None:
                appended = Appended(current, os.lstat(path), messages, switches)
        return UpdateResult(result, session, data, path, appended)

    def _write_known(self, path: Path, session: Session, previous: Session, entry: _Entry | None) -> bytes:
        """Write ``session`` (a working copy of ``previous``), refresh its views if needed, cache it."""
        data = _encode_after(entry, session)
        atomic_write_bytes(path, data)
        key = view_key(session)
        # Views were made for exactly these models and day when this store wrote the bytes
        # the file still held: nothing to check. Otherwise (another writer, new model) check.
        if entry is None or entry.views != key:
            update_views(self.layout, session, previous)
        self._last_written.put(session.id, data, session, key)
        return data

    def append_messages(self, session_id: str, messages: Iterable[Message]) -> list[Message]:
        """Append messages in one atomic write; models they name join ``models_used``.

        Returns the given messages. The file holds what they were at the time of the call
        (normalised as a load would give them: UTC times, JSON values); changing the objects
        afterwards does not change the session.
        """
        batch = list(messages)

        def change(session: Session) -> None:
            # update_shared stores normalised copies (as_decoded), never these objects.
            for message in batch:
                session.note_model(message.model)
                session.messages.append(message)

        self.update_shared(session_id, change)
        return batch

    def record_exchange(
        self,
        session_id: str,
        messages: Sequence[Message],
        *,
        answered_by: str | None = None,
        summary: Summary | None = None,
    ) -> UpdateResult[ModelSwitch | None]:
        """Store one chat turn in one atomic write: its ``messages``, and the ``summary`` its prompt used.

        ``answered_by`` is the model that answered; it becomes the current model, and a change
        from another model is recorded as a ``ModelSwitch`` (with :func:`model_switch_warning`),
        which is the update's ``result``. ``None`` (the call failed) keeps the current model.
        """
        batch = list(messages)

        def change(session: Session) -> ModelSwitch | None:
            switch = None
            if answered_by is not None:
                previous = session.current_model
                warning = model_switch_warning(previous, answered_by) if previous and previous != answered_by else ""
                switch = switch_model(session, answered_by, warning)
            for message in batch:
                session.note_model(message.model)
                session.messages.append(message)
            if summary is not None:
                session.summaries.append(summary)
            return switch

        return self.update_shared(session_id, change)

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

        Looks in ``sessions/``, ``quarantine/`` (where reason files are prepared) and ``blobs/``.
        """
        return [
            *clean_stale_temp_files(self.layout.sessions),
            *clean_stale_temp_files(self.layout.quarantine),
            *clean_stale_temp_files(self.layout.blobs),
        ]


def model_switch_warning(from_model: str, to_model: str) -> str:
    """The warning stored with a ``ModelSwitch`` (and returned to the caller of ``chat``)."""
    return (
        f"model switched from {from_model} to {to_model}: the earlier conversation is re-tokenised for "
        f"{to_model} (token counts and what fits in its context window differ), tool calls and results are "
        f"converted to {to_model}'s tool-call format, and {to_model} did not write the earlier answers "
        f"(they came from {from_model}), so it may not keep the same reasoning or style"
    )


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
