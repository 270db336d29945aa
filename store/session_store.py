"""``SessionStore``: create, read, change and list the session files under one root."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, Field

from store.atomic import atomic_write_bytes, clean_stale_temp_files
from store.branches import forked_from, group_of
from store import casefold
from store.codec import UnreadableSessionFile, decode_session, encode_session, read_file_no_follow
from store.errors import (
    CorruptSession,
    InvalidSessionId,
    InvalidTag,
    NotInTrash,
    SessionExists,
    SessionIdClash,
    SessionNotFound,
    SessionQuarantined,
    StoreError,
    UnsupportedSchemaVersion,
    WrongCase,
)
from store.gitignore import ensure_gitignore
from store.ids import new_session_id, validate_session_id
from store.locking import locked
from store.paths import Layout
from store.quarantine import QuarantineRecord, find_quarantined, quarantine_file
from store.receipt import Appended, WriteReceipt
from store.schema import Message, ModelSwitch, Session, Summary, as_utc, total_cost, utc_now
from store.titles import validate_tags, validate_title
from store.trash import TrashedSession, trash_entries, trash_name
from store.views import rebuild_all_views, remove_views, update_views
from store.write_cache import CacheEntry, LastWritten, appended_count, as_decoded, encode_after, view_key, working_copy

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
    #: groups of ids equal up to letter case (only filled by ``rebuild_views``)
    clashes: list[list[str]] = Field(default_factory=list)


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


@dataclass(frozen=True)
class SessionSnapshot:
    """A session and the exact bytes of its file it was decoded from.

    ``session`` may be shared with this store's cache and with other callers: treat it as
    read-only (never mutate it or its items). ``data`` is what the file held when it was read.
    """

    session: Session
    data: bytes
    path: Path


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
        self._last_written = LastWritten(size=4)

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
            if session.id != path.stem and self._same_file_as(path, session.id):
                # A case-folding file system answered for another id's file: not corrupt, not this id.
                raise WrongCase(path.stem, session.id)
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

    def _same_file_as(self, path: Path, other_id: str) -> bool:
        """True if ``path`` is the very file of ``other_id`` (an id equal up to letter case):
        what a case-folding file system gives. Two files that merely disagree are not."""
        if casefold.casefold_key(other_id) != casefold.casefold_key(path.stem):
            return False
        try:
            mine, theirs = os.lstat(path), os.lstat(self.layout.session_file(validate_session_id(other_id)))
        except (OSError, InvalidSessionId):
            return False
        return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)

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
        """Create and write a new, empty session; ``SessionExists`` if the id is taken,
        ``SessionIdClash`` if it differs only in letter case from an existing one.

        ``title`` and ``tags`` are validated (``InvalidTitle``, ``InvalidTag``)."""
        title = validate_title(title)
        tags = validate_tags(tags)

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
        with locked(self._lock_path(session.id)), locked(casefold.lock_path(self.layout, session.id)):
            self._refuse_clash(session.id, path)
            previous: Session | None = None
            if os.path.lexists(path):
                if not replace:
                    raise SessionExists(session.id)
                try:
                    previous = self.read_file(path)
                except (CorruptSession, SessionNotFound):
                    previous = None
            casefold.claim(self.layout, session.id)
            self._write(session, previous)

    def _refuse_clash(self, session_id: str, path: Path, action: str = "create") -> None:
        """``SessionIdClash`` if another session's id equals ``session_id`` up to case.

        Call under the id's casefold lock. O(1): one readlink, and one file read only when
        ``path`` already exists (a case-folding file system may be answering for the other id).
        """
        casefold.ensure(self.layout)  # one isdir; rebuilt from the names if someone removed it
        owner = casefold.existing_owner(self.layout, session_id)
        if owner is None and os.path.lexists(path):
            stored = self._stored_id(path)
            if stored is not None and stored != session_id and casefold.casefold_key(stored) == casefold.casefold_key(session_id):
                owner = stored
        if owner is not None:
            raise SessionIdClash(session_id, owner, self._describe(owner), action)

    def _stored_id(self, path: Path) -> str | None:
        data = _read_regular(path)
        if data is None:
            return None
        try:
            return decode_session(data, path).id
        except (UnreadableSessionFile, UnsupportedSchemaVersion):
            return None

    def _describe(self, session_id: str) -> str:
        """``"title", N messages, model M, updated T`` of an existing session, for error messages."""
        try:
            session = self.snapshot(session_id).session
        except (StoreError, OSError):
            return ""
        parts = [f"{session.title!r}" if session.title else "untitled", f"{len(session.messages)} messages"]
        parts.append(f"model {session.current_model}" if session.current_model else "no model yet")
        parts.append(f"last updated {as_utc(session.updated_at):%Y-%m-%d %H:%M} UTC")
        return ", ".join(parts)

    def update(self, session_id: str, change: Callable[[Session], T], *, touch: bool = True) -> T:
        """Apply ``change`` to the session under its lock and persist it atomically.

        ``change`` mutates the session in place and may return a value, which is returned.
        ``touch=False`` keeps ``updated_at`` (organising a session is not activity in it).
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
            if touch:
                session.updated_at = utc_now()
            self._write(session, previous)
            return result

    def update_shared(self, session_id: str, change: Callable[[Session], T]) -> WriteReceipt[T]:
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
            messages = appended_count(previous.messages, session.messages)
            switches = appended_count(previous.model_switches, session.model_switches)
            session = as_decoded(previous, session)
            data = self._write_known(path, session, previous, entry)
            appended = None
            if current is not None and messages is not None and switches is not None:
                appended = Appended(current, os.lstat(path), messages, switches)
        return WriteReceipt(result, session, data, path, appended)

    def _write_known(self, path: Path, session: Session, previous: Session, entry: CacheEntry | None) -> bytes:
        """Write ``session`` (a working copy of ``previous``), refresh its views if needed, cache it."""
        data = encode_after(entry, session)
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
    ) -> WriteReceipt[ModelSwitch | None]:
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

    def set_title(self, session_id: str, title: str | None) -> str | None:
        """Set (or with None or blank text, clear) the title; returns it as stored.

        ``InvalidTitle`` unless one line of at most 200 characters. Keeps ``updated_at``.
        """
        wanted = validate_title(title)

        def change(session: Session) -> None:
            session.title = wanted

        self.update(session_id, change, touch=False)
        return wanted

    def set_tags(self, session_id: str, tags: Iterable[str]) -> list[str]:
        """Replace the tags (validated, duplicates dropped); keeps ``updated_at``."""
        wanted = validate_tags(tags)

        def change(session: Session) -> None:
            session.tags = wanted

        self.update(session_id, change, touch=False)
        return wanted

    def update_tags(self, session_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[str]:
        """Add and remove tags in one atomic write; returns the tags as stored.

        Adding a present tag or removing an absent one is no error; naming a tag in both is
        ``InvalidTag``. Keeps ``updated_at`` (see docs/store.md).
        """
        adding, removing = validate_tags(add), validate_tags(remove)
        both = set(adding) & set(removing)
        if both:
            raise InvalidTag(sorted(both)[0], "it is both added and removed")

        def change(session: Session) -> list[str]:
            kept = [tag for tag in session.tags if tag not in removing]
            session.tags = list(dict.fromkeys([*kept, *adding]))
            return list(session.tags)

        return self.update(session_id, change, touch=False)

    def record_model_switch(self, session_id: str, to_model: str, warning: str = "") -> ModelSwitch | None:
        """Make ``to_model`` current; record a ``ModelSwitch`` if it differs from the current one."""

        def change(session: Session) -> ModelSwitch | None:
            return switch_model(session, to_model, warning)

        return self.update(session_id, change)

    def delete(self, session_id: str) -> Path:
        """Move the session file to ``trash/`` (never unlinked); :meth:`trash`, returning the path."""
        return self.trash(session_id).path

    def trash(self, session_id: str) -> TrashedSession:
        """Move the session file to ``trash/<id>.<UTC time>.json`` and drop its views.

        Never deletes: :meth:`restore` brings it back, :meth:`empty_trash` removes trashed files.
        The file is read first (under the lock) so that on a case-folding file system
        ``trash("DAY1")`` cannot move ``day1``'s file (``WrongCase``).
        """
        path = self.path_for(session_id)
        with locked(self._lock_path(session_id)):
            if not os.path.lexists(path):
                raise SessionNotFound(session_id)
            session = self.read_file(path)
            now = datetime.now(timezone.utc)
            self.layout.trash.mkdir(parents=True, exist_ok=True)  # someone may have removed it
            destination = self.layout.trash / trash_name(session_id, now)
            os.replace(path, destination)
            remove_views(self.layout, session_id)
            casefold.release(self.layout, session_id)
            return TrashedSession(
                id=session_id, trashed_at=now, path=destination, size_bytes=destination.stat().st_size,
                title=session.title, current_model=session.current_model, message_count=len(session.messages),
            )

    def list_trash(self, *, details: bool = False) -> list[TrashedSession]:
        """What is in ``trash/``, newest first (one scan of ``trash/``; never of ``sessions/``).

        ``details`` also reads each trashed file for its title, model and message count.
        """
        entries = trash_entries(self.layout.trash)
        if details:
            entries = [self._with_details(entry) for entry in entries]
        return entries

    def _with_details(self, entry: TrashedSession) -> TrashedSession:
        try:
            session = decode_session(read_file_no_follow(entry.path), entry.path)
        except (UnreadableSessionFile, UnsupportedSchemaVersion, OSError):
            return entry
        return entry.model_copy(
            update={"title": session.title, "current_model": session.current_model, "message_count": len(session.messages)}
        )

    def restore(self, session_id: str, *, trashed_path: Path | None = None) -> Session:
        """Move the newest trashed copy of ``session_id`` (or ``trashed_path``) back into ``sessions/``.

        Refused with ``SessionExists`` if the id is in use again, ``SessionIdClash`` if an id
        differing only in case is; ``NotInTrash`` if nothing to restore. Views come back.
        """
        validate_session_id(session_id)
        path = self.layout.session_file(session_id)
        with locked(self._lock_path(session_id)), locked(casefold.lock_path(self.layout, session_id)):
            candidates = [entry for entry in trash_entries(self.layout.trash) if entry.id == session_id]
            if trashed_path is not None:
                candidates = [entry for entry in candidates if entry.path == Path(trashed_path)]
            if not candidates:
                raise NotInTrash(session_id)
            source = candidates[0].path
            self._refuse_clash(session_id, path, "restore")
            if os.path.lexists(path):
                raise SessionExists(session_id)
            data, session = self._read_trashed(source, session_id)
            casefold.claim(self.layout, session_id)
            try:
                os.link(source, path)  # fails if the name appeared meanwhile (git pull): nothing overwritten
                os.unlink(source)
            except FileExistsError:
                raise SessionExists(session_id) from None
            except OSError:
                atomic_write_bytes(path, data)  # a file system without hard links
                os.unlink(source)
            update_views(self.layout, session)
            return session

    def _read_trashed(self, source: Path, session_id: str) -> tuple[bytes, Session]:
        try:
            data = read_file_no_follow(source)
            session = decode_session(data, source)
        except UnreadableSessionFile as exc:
            raise CorruptSession(session_id, exc.reason, source) from exc
        if session.id != session_id:
            raise CorruptSession(session_id, f"the trashed file holds session {session.id!r}", source)
        return data, session

    def empty_trash(self, older_than_days: float | None = None) -> list[TrashedSession]:
        """Delete trashed files (those trashed more than ``older_than_days`` ago; None: all).

        The only place the store deletes a session's data. Each removal holds the session's
        lock, so it cannot race a :meth:`restore`. Returns what was removed.
        """
        if older_than_days is not None and older_than_days < 0:
            raise ValueError(f"older_than_days must be 0 or more, got {older_than_days}")
        cutoff = None if older_than_days is None else datetime.now(timezone.utc) - timedelta(days=older_than_days)
        removed: list[TrashedSession] = []
        for entry in trash_entries(self.layout.trash):
            if cutoff is not None and entry.trashed_at > cutoff:
                continue
            with locked(self._lock_path(entry.id)):
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    continue  # restored or removed meanwhile
            removed.append(entry)
        return removed

    def rebuild_views(self) -> SessionListing:
        """Recreate ``by-model/``, ``by-date/`` and ``by-casefold/`` from the session files.

        Ids that equal each other up to case (files that arrived by git from case-sensitive
        machines) are reported in ``listing.clashes``; nothing is renamed or overwritten.
        """
        listing = SessionListing()
        # An unopenable file aborts the rebuild (as it always has) rather than losing its views.
        sessions = list(self._readable_sessions(listing, refuse_unopenable=False))
        rebuild_all_views(self.layout, sessions)
        listing.clashes = list(casefold.rebuild(self.layout, (session.id for session in sessions)).values())
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
