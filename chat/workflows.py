"""The MCP prompts: workflows a user invokes as slash commands (``/second-opinion`` ...).

Each prompt returns one user message that tells the agent which tool call to make
(``chat`` or ``ask_models``) and what to do with the answer; nothing is sent to a model here.
Arguments are strings (MCP prompt arguments are), described with ``Field``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

PROMPTS = ("second-opinion", "consensus", "continue-session")


def second_opinion(
    subject: Annotated[str, Field(description="what to review: a question, a file path, a diff, or 'the staged changes'")],
    model: Annotated[str, Field(description="the other model to ask, e.g. gpt-5 or gemini-2.5-pro (list_models lists them)")],
    focus: Annotated[str | None, Field(description="what to look at: correctness, security, naming...; default: anything important")] = None,
) -> str:
    """Ask one other model for a second opinion on a question, a file or a diff."""
    focus_text = f" Focus on: {focus}." if focus else ""
    return (
        f"Get a second opinion from {model} on: {subject}.{focus_text}\n\n"
        f"1. Gather the material. If it names files, pass their absolute paths in `files` (do not paste them); "
        f"if it is a diff or the staged changes, put the diff text in the prompt.\n"
        f"2. Call the `chat` tool with model=\"{model}\" and a prompt that states the question, the context the "
        f"other model needs, and asks for concrete problems with reasons, most important first.\n"
        f"3. Read its reply critically: say where you agree, where you disagree and why, and what you would change. "
        f"Keep the returned session_id to ask a follow-up with `chat`."
    )


def consensus(
    question: Annotated[str, Field(description="the question or decision to put to every model")],
    models: Annotated[str, Field(description="2 to 4 model names separated by commas, e.g. 'gpt-5, claude-sonnet-4-5, gemini-2.5-pro'")],
    files: Annotated[str | None, Field(description="absolute paths of files every model should see, separated by commas")] = None,
) -> str:
    """Put the same question to 2-4 models at once, then compare their answers."""
    names = [name.strip() for name in models.split(",") if name.strip()]
    listed = ", ".join(f'"{name}"' for name in names)
    file_list = [path.strip() for path in (files or "").split(",") if path.strip()]
    file_text = f" and files=[{', '.join(repr(path) for path in file_list)}]" if file_list else ""
    count_note = "" if 2 <= len(names) <= 4 else f" (you gave {len(names)} model(s): ask the user for 2 to 4 first)"
    return (
        f"Find out where models agree on: {question}\n\n"
        f"1. Call the `ask_models` tool once with models=[{listed}]{count_note}{file_text}, and the question as the "
        f"prompt, asking each model for its answer and its confidence.\n"
        f"2. Compare the answers: list the points they agree on, the points they disagree on (who said what), and "
        f"anything only one model raised.\n"
        f"3. Give your own conclusion with reasons. To follow up with one model, call `chat` with its session_id."
    )


def continue_session(
    session: Annotated[str, Field(description="the session id, or words from its title (then search for it)")],
    prompt: Annotated[str | None, Field(description="what to ask next; default: ask for a recap and the open questions")] = None,
) -> str:
    """Pick up a stored conversation by id or title: recap it, then continue it."""
    next_step = (
        f"call `chat` with that session_id, its current model and the prompt: {prompt}"
        if prompt
        else "ask the user what to ask next, then call `chat` with that session_id and its current model"
    )
    return (
        f"Continue the stored conversation \"{session}\".\n\n"
        f"1. If \"{session}\" is not a session id, find it: call `list_sessions` (titles are listed) or "
        f"`search_sessions` with words from it, and pick the best match (ask the user if unsure).\n"
        f"2. Call `get_session` with its session_id and give a short recap: what was asked, what was answered, "
        f"which models took part, what is still open.\n"
        f"3. Then {next_step}."
    )


def register_prompts(server: Any) -> None:
    """Register the three prompts on an ``MCPServer``."""
    server.prompt(name="second-opinion", title="Second opinion from another model")(second_opinion)
    server.prompt(name="consensus", title="Ask several models, compare the answers")(consensus)
    server.prompt(name="continue-session", title="Continue a stored conversation")(continue_session)
