"""``sessions.py`` commands that organise sessions: ``title``, ``tag``, ``rm``, ``restore``, ``trash``.

A thin layer over ``SessionStore.set_title``, ``update_tags``, ``trash``, ``restore``,
``list_trash`` and ``empty_trash``; kept apart from ``sessions.py`` so each file stays one job.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any, TextIO

from store import SessionNotFound, SessionStore, StoreError, validate_session_id
from store.paths import resolve_root
from store.session_store import summarize
from store.trash import TrashedSession

HELP = """\
  title ID TEXT  set a session's title ("" clears it)
  tag ID [+t|-t] add (+t, or a bare t) and remove (-t) tags; with none, print the tags
  rm ID...       move sessions to the trash (restorable; nothing is deleted)
  restore ID...  bring trashed sessions back (the newest copy of each id)
  trash          list the trash; --empty [--older-than DAYS] deletes trashed files for good
"""

TRASH_DESCRIPTION = """\
List what is in <root>/trash/ (newest first: id, when it was trashed, title, model, messages).
With --empty, delete trashed files for good: all of them, or with --older-than DAYS those
trashed more than DAYS days ago. Trashed files are machine-local (git-ignored).
"""


class OrganiseUsageError(ValueError):
    """A bad argument (exit code 2)."""


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the organising sub-commands to ``sessions.py``'s sub-parsers."""
    title = commands.add_parser(
        "title", parents=[common], help="set or clear a session's title",
        description="Set the title of session ID to TEXT (one line, at most 200 characters; \"\" clears it). "
        "A re-title keeps the session's updated_at, so its place in `list` does not change.",
    )
    title.add_argument("session_id", metavar="ID")
    title.add_argument("text", metavar="TEXT", help="the new title (\"\" clears it)")

    tag = commands.add_parser(
        "tag", parents=[common], help="add or remove tags of a session",
        description="Change the tags of session ID in one atomic write: +NAME (or NAME) adds, -NAME removes. "
        "With no change, print the tags. A tag is 1-64 characters without spaces or commas. Keeps updated_at.",
    )
    tag.add_argument("session_id", metavar="ID")
    tag.add_argument("changes", metavar="+TAG|-TAG", nargs=argparse.REMAINDER, help="tags to add (+) or remove (-)")

    remove = commands.add_parser(
        "rm", parents=[common], help="move sessions to the trash",
        description="Move each session file to <root>/trash/<id>.<time>.json and drop its views; the index "
        "forgets it on its next sync. Nothing is deleted: `sessions.py restore ID` brings it back.",
    )
    remove.add_argument("ids", metavar="ID", nargs="+")

    restore = commands.add_parser(
        "restore", parents=[common], help="bring trashed sessions back",
        description="Move the newest trashed copy of each ID back into sessions/. Refused when the id (or one "
        "differing only in letter case) is in use again.",
    )
    restore.add_argument("ids", metavar="ID", nargs="+")

    trash = commands.add_parser(
        "trash", parents=[common], help="list or empty the trash",
        description=TRASH_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trash.add_argument("--empty", action="store_true", help="delete trashed files for good (see --older-than)")
    trash.add_argument("--older-than", metavar="DAYS", type=float, help="with --empty: only files trashed more than DAYS days ago")


def _dump(data: Any, out: TextIO) -> None:
    out.write(json.dumps(data, ensure_ascii=False, indent=1, default=str) + "\n")


def _existing_store(args: argparse.Namespace) -> SessionStore:
    """The store at the root, refusing to create one (a mistyped --root must not make a store)."""
    root = resolve_root(args.root)
    if not (root / "sessions").is_dir():
        raise OrganiseUsageError(f"no session store at {root}: check --root or $LLM_SESSIONS_DIR")
    return SessionStore(root)


def _summary(store: SessionStore, session_id: str) -> dict[str, Any]:
    return summarize(store.load(session_id)).model_dump(mode="json")


def cmd_title(args: argparse.Namespace, out: TextIO) -> int:
    store = _existing_store(args)
    title = store.set_title(args.session_id, args.text)
    if args.json:
        _dump(_summary(store, args.session_id), out)
    else:
        out.write(f"{args.session_id}: " + (f"title {title!r}\n" if title else "title cleared\n"))
    return 0


def _parse_changes(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    add: list[str] = []
    remove: list[str] = []
    items = list(args.changes)
    while items:
        item = items.pop(0)
        # REMAINDER also catches the common options given after the tags.
        if item == "--json":
            args.json = True
        elif item == "--root" and items:
            args.root = items.pop(0)
        elif item.startswith("--root="):
            args.root = item.removeprefix("--root=")
        elif item.startswith("-"):
            remove.append(item[1:])
        else:
            add.append(item.removeprefix("+"))
    return add, remove


def cmd_tag(args: argparse.Namespace, out: TextIO) -> int:
    add, remove = _parse_changes(args)
    store = _existing_store(args)
    if add or remove:
        tags = store.update_tags(args.session_id, add=add, remove=remove)
    else:
        tags = list(store.load(args.session_id).tags)
    if args.json:
        _dump(_summary(store, args.session_id), out)
    else:
        out.write(f"{args.session_id}: tags {', '.join(tags) if tags else '(none)'}\n")
    return 0


def _trashed_json(entry: TrashedSession) -> dict[str, Any]:
    return entry.model_dump(mode="json")


def _each(
    args: argparse.Namespace, out: TextIO, err: TextIO, key: str, act: Callable[[SessionStore, str], dict[str, Any]],
    describe: Callable[[dict[str, Any]], str],
) -> int:
    """Apply ``act`` to every id; one failing id is reported and the others still done (exit 1)."""
    store = _existing_store(args)
    done: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for session_id in args.ids:
        try:
            validate_session_id(session_id)
            done.append(act(store, session_id))
        except StoreError as exc:
            message = str(exc)
            if type(exc) is SessionNotFound:
                message = f"no session with id {session_id!r}; `sessions.py list` shows the ids"
            failed.append({"id": session_id, "error": message})
            err.write(f"sessions.py {args.command}: {message}\n")
    if args.json:
        _dump({key: done, "errors": failed}, out)
    else:
        for item in done:
            out.write(describe(item) + "\n")
    return 1 if failed else 0


def cmd_rm(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return _each(
        args, out, err, "trashed",
        lambda store, session_id: _trashed_json(store.trash(session_id)),
        lambda item: f"{item['id']}: moved to {item['path']}; `sessions.py restore {item['id']}` brings it back",
    )


def cmd_restore(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return _each(
        args, out, err, "restored",
        lambda store, session_id: summarize(store.restore(session_id)).model_dump(mode="json"),
        lambda item: f"{item['id']}: restored ({item['message_count']} messages, {item['title'] or 'untitled'})",
    )


def cmd_trash(args: argparse.Namespace, out: TextIO) -> int:
    if args.older_than is not None and not args.empty:
        raise OrganiseUsageError("--older-than only goes with --empty (the listing always shows every trashed file)")
    if args.older_than is not None and args.older_than < 0:
        raise OrganiseUsageError(f"--older-than must be 0 or more days, got {args.older_than:g}")
    store = _existing_store(args)
    if args.empty:
        removed = store.empty_trash(args.older_than)
        if args.json:
            _dump({"removed": [_trashed_json(entry) for entry in removed]}, out)
        else:
            out.write(f"deleted {len(removed)} trashed file(s) for good\n")
        return 0
    entries = store.list_trash(details=True)
    if args.json:
        _dump({"trash": [_trashed_json(entry) for entry in entries]}, out)
        return 0
    for entry in entries:
        count = "?" if entry.message_count is None else str(entry.message_count)
        out.write(
            f"{entry.id}  trashed {entry.trashed_at:%Y-%m-%d %H:%M}  {entry.current_model or '-'}  "
            f"{count} msg  {entry.title or ''}\n"
        )
    out.write(f"{len(entries)} trashed session(s); `sessions.py restore ID` brings one back\n")
    return 0


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int | None:
    """Run an organising command; None if ``args.command`` is not one of them."""
    if args.command == "title":
        return cmd_title(args, out)
    if args.command == "tag":
        return cmd_tag(args, out)
    if args.command == "rm":
        return cmd_rm(args, out, err)
    if args.command == "restore":
        return cmd_restore(args, out, err)
    if args.command == "trash":
        return cmd_trash(args, out)
    return None

