"""One hierarchy of store errors, each with a message that says what to do."""

from __future__ import annotations

from pathlib import Path

from filelock import Timeout


class UserFacingError(Exception):
    """An anticipated error whose message is written for the user: shown as it is.

    The root of the project's one error tree: each package subclasses it (``StoreError``,
    ``adapters.errors.AdapterError``, ``chat.errors.InvalidToolArgument``,
    ``index.InvalidQuery``...), and ``server.py`` maps it to a tool error by this base class
    alone. Any other exception is a bug: logged with its traceback, reported as an internal error.
    """


class StoreError(UserFacingError):
    """Base class of every error raised by ``store``."""


class InvalidSessionId(StoreError, ValueError):
    """A session id that is not a safe file name (see ``store.ids``)."""

    def __init__(self, session_id: object, why: str) -> None:
        shown = repr(session_id)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(
            f"invalid session id {shown}: {why}. A session id is 1-200 characters (at most "
            "200 bytes in UTF-8) of letters (any script), digits, '.', '_' or '-', and does "
            "not start with '.'."
        )
        self.session_id = session_id
        self.why = why


class SessionNotFound(StoreError, LookupError):
    """No session file exists for the id."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"no session with id {session_id!r}; list_sessions shows the existing ids"
        )
        self.session_id = session_id


class SessionQuarantined(SessionNotFound):
    """No session file for the id, because an unreadable one was moved to ``quarantine/``."""

    def __init__(self, session_id: str, quarantined_to: Path, reason: str, original: Path) -> None:
        StoreError.__init__(
            self,
            f"session {session_id!r} is in quarantine: its file was unreadable ({reason}) and was moved to "
            f"{quarantined_to} (the reason is beside it in {quarantined_to.name}.reason.txt). To use the session "
            f"again, repair that file and move it back to {original}; or start a new session without session_id",
        )
        self.session_id = session_id
        self.quarantined_to = quarantined_to
        self.reason = reason


class SessionExists(StoreError):
    """A session with this id already exists and the caller asked not to replace it."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"a session with id {session_id!r} already exists")
        self.session_id = session_id


class UnsupportedSchemaVersion(StoreError):
    """The file was written by a newer version of this program; it is left untouched."""

    def __init__(self, path: Path, found: int, supported: int) -> None:
        super().__init__(
            f"{path} has schema_version {found}, but this program understands up to "
            f"{supported}; upgrade llm-mcp-server to read it (the file was not modified)"
        )
        self.path = path
        self.found = found
        self.supported = supported


class CorruptSession(StoreError):
    """A session file could not be read; it has been moved to quarantine."""

    def __init__(self, session_id: str, reason: str, quarantined_to: Path) -> None:
        super().__init__(
            f"session {session_id!r} is unreadable ({reason}); the file was moved to "
            f"{quarantined_to} with a .reason.txt beside it. Repair it and move it back "
            "into sessions/ to use it again."
        )
        self.session_id = session_id
        self.reason = reason
        self.quarantined_to = quarantined_to


class SessionBusy(StoreError, Timeout):
    """Another writer held the session's lock longer than the timeout; nothing was changed.

    Also a ``filelock.Timeout`` (what was raised before this class existed).
    """

    def __init__(self, lock_file: str, timeout: float = 0.0) -> None:
        Timeout.__init__(self, lock_file)  # provides the ``lock_file`` property
        self.timeout = timeout

    def __str__(self) -> str:
        name = Path(self.lock_file).name.removesuffix(".lock")
        return (
            f"session {name!r} is busy: another writer held its lock for more than "
            f"{self.timeout:g} s; nothing was changed, try again"
        )


class SessionIdClash(SessionExists):
    """The id differs only in case (or Unicode normalisation) from an existing session's id.

    Ids are unique case-insensitively: on macOS and Windows both would be one file. Also a
    ``SessionExists``, so a caller that draws ids again on ``SessionExists`` keeps working.
    """

    def __init__(self, session_id: str, existing_id: str, described: str = "", action: str = "create") -> None:
        StoreError.__init__(
            self,
            f"cannot {action} session {session_id!r}: its id differs only in letter case from the existing session "
            f"{existing_id!r}{f' ({described})' if described else ''}. Session ids are unique regardless of case "
            f"(on macOS and Windows both would be one file): use {existing_id!r} to continue it, or choose another id.",
        )
        self.session_id = session_id
        self.existing_id = existing_id


class InvalidTitle(StoreError, ValueError):
    """A title that is not one line of at most ``MAX_TITLE_LENGTH`` characters (see ``store.titles``)."""

    def __init__(self, why: str) -> None:
        super().__init__(f"invalid title: {why}. A title is one line of at most 200 characters (empty clears it).")
        self.why = why


class InvalidTag(StoreError, ValueError):
    """A tag that is empty, too long, or holds whitespace or commas (see ``store.titles``)."""

    def __init__(self, tag: object, why: str) -> None:
        super().__init__(
            f"invalid tag {tag!r}: {why}. A tag is 1-64 characters without spaces, commas or control "
            "characters, and does not start with '+' or '-'."
        )
        self.tag = tag
        self.why = why


class NotInTrash(StoreError, LookupError):
    """No trashed copy of the session exists."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"no session {session_id!r} in the trash; `sessions.py trash` lists what can be restored")
        self.session_id = session_id


class WrongCase(SessionNotFound):
    """The id names no session, but one whose id differs only in case exists (a case-folding
    file system opened its file for this id): not corrupt, just not this id."""

    def __init__(self, session_id: str, existing_id: str) -> None:
        StoreError.__init__(
            self,
            f"no session with id {session_id!r}; did you mean {existing_id!r}? (This file system ignores "
            "letter case in file names, so it opened that session's file; ids are matched exactly.)",
        )
        self.session_id = session_id
        self.existing_id = existing_id
