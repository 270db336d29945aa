"""The per-turn update: index the session a chat turn just wrote, from what the store hands
over (``store.WriteReceipt``), at a cost of O(new messages) when nothing else changed the file."""

from __future__ import annotations

import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from index.connection import IndexConnection
from index.database import write_transaction
from index.file_sync import index_one
from index.files import Known, is_session_file_name, known, remember, stat_key
from index.models import ReindexReport
from index.prepare import Decoded
from index.row_writer import append_rows, write_session
from index.schema import PENDING_HASH
from store import Appended
from store.codec import read_file_no_follow
from store.schema import Session

# Sessions whose last indexed bytes are remembered for the append path (the ones being chatted
# in): as many as the store caches, whose bytes objects they share, so they cost no extra memory.
MIRRORED_SESSIONS = 4


@dataclass(frozen=True)
class _Mirrored:
    """The bytes a session's rows were last made from by this indexer, and the stat recorded for them."""

    data: bytes
    stat: tuple[int, int, int]


class TurnUpdate:
    """Indexes one written session without decoding it again; remembers, per session being
    chatted in, the bytes its rows were made from, so the next turn only appends rows."""

    def __init__(self, db: IndexConnection, sync: Callable[[], ReindexReport]) -> None:
        """``sync``: the incremental sync to run instead when the index must be rebuilt."""
        self._db = db
        self._sync = sync
        self._mirrored: OrderedDict[str, _Mirrored] = OrderedDict()  # guarded by db.lock

    def index_session(self, path: Path, session: Session, data: bytes | None, appended: Appended | None) -> ReindexReport:
        """See ``Indexer.index_session``."""
        db = self._db
        if os.path.dirname(os.path.abspath(path)) != os.path.abspath(db.layout.sessions) or not is_session_file_name(path.name):
            raise ValueError(f"{path} is not a session file in {db.layout.sessions}")
        if session.id != path.stem:
            raise ValueError(f"the file name says id {path.stem!r} but the session is {session.id!r}")
        return db.turns.as_a_turn(lambda: db.recovering(lambda: self._index(path, session, data, appended)))

    def _index(self, path: Path, session: Session, data: bytes | None, appended: Appended | None) -> ReindexReport:
        db = self._db
        started = time.monotonic()
        report = ReindexReport()
        rel = f"sessions/{path.name}"
        with db.lock:
            mirror = self._mirrored.pop(session.id, None)  # put back only once the rows are committed
            conn = db.connection()
            if db.needs_rebuild:
                return self._sync()
            recorded: tuple[int, int, int] | None = None
            with write_transaction(conn):
                row = known(conn, rel).get(rel)
                report.files_seen += 1
                if data is not None and appended is not None and _extends(mirror, row, appended, path, data):
                    append_rows(conn, rel, session, appended.messages, appended.switches, db.attachment_text)
                    remember(conn, rel, Decoded(b"", PENDING_HASH, appended.stat, session, None, None), "indexed", None)
                    recorded = stat_key(appended.stat)
                    report.indexed += 1
                elif (current := _read_exactly(path, data)) is None:
                    report.files_seen -= 1
                    index_one(db, conn, rel, row, "hash", report)  # changed, gone or a symlink
                else:
                    st, digest = current
                    decoded = Decoded(b"", digest, st, session, None, None)
                    recorded = stat_key(st)
                    if row is not None and row.sha256 == digest and row.status == "indexed":
                        remember(conn, rel, decoded, "indexed", None)
                        report.skipped += 1
                    else:
                        write_session(conn, rel, session, db.attachment_text)
                        remember(conn, rel, decoded, "indexed", None)
                        report.indexed += 1
            db.after_write(conn)
            if recorded is not None and data is not None:
                self._mirrored[session.id] = _Mirrored(data, recorded)
                while len(self._mirrored) > MIRRORED_SESSIONS:
                    self._mirrored.popitem(last=False)
        report.seconds = time.monotonic() - started
        return report


    def reflects(self, path: str) -> bool:
        """True if the rows of the session file ``path`` were made by this indexer from the file
        as it is now (a chat turn's own write, whose watcher event is still queued)."""
        mirror = self._mirrored.get(os.path.basename(path)[: -len(".json")])
        if mirror is None:
            return False
        try:
            return stat_key(os.lstat(path)) == mirror.stat
        except OSError:
            return False


def _extends(mirror: _Mirrored | None, row: Known | None, appended: Appended, path: Path, data: bytes) -> bool:
    """True if the rows are those of ``appended.previous_data`` and the file is still the one written."""
    if mirror is None or row is None or row.status != "indexed":
        return False
    if row.stat != mirror.stat:
        return False  # someone indexed another version of the file since
    if mirror.data is not appended.previous_data and mirror.data != appended.previous_data:
        return False
    if appended.stat.st_size != len(data):
        return False
    try:
        return stat_key(os.lstat(path)) == stat_key(appended.stat)
    except OSError:
        return False


def _read_exactly(path: Path, data: bytes | None) -> tuple[os.stat_result, str] | None:
    """(stat, sha256) of the file as it is now, if it holds ``data`` (any content if None)."""
    try:
        st = os.lstat(path)  # before reading: a write after it shows as a newer stat later
        if data is not None and st.st_size != len(data):
            return None
        on_disk = read_file_no_follow(path)
    except OSError:
        return None
    if data is not None and on_disk != data:
        return None
    return st, hashlib.sha256(on_disk).hexdigest()
