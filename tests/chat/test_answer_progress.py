"""The cadence and values of progress notifications (chat/progress.py), on a simulated clock."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

from chat.progress import AnswerWatch, report_progress


class Stop(Exception):
    pass


def simulate(watches: list[tuple[str, AnswerWatch]], seconds: float, arrivals: Callable[[float], None] = lambda now: None) -> list[tuple[float, float, str]]:
    """Run report_progress for ``seconds`` of simulated time; ``arrivals(now)`` feeds the watches each tick."""
    now = [0.0]
    sent: list[tuple[float, float, str]] = []

    async def send(progress: float, message: str) -> None:
        sent.append((now[0], progress, message))

    async def sleep(delay: float) -> None:
        now[0] = round(now[0] + delay, 6)
        if now[0] > seconds:
            raise Stop
        arrivals(now[0])

    async def main() -> None:
        with pytest.raises(Stop):
            await report_progress(send, watches, clock=lambda: now[0], sleep=sleep)

    anyio.run(main)
    return sent


def gaps(sent: list[tuple[float, float, str]]) -> list[float]:
    times = [at for at, _, _ in sent]
    return [round(b - a, 6) for a, b in zip(times, times[1:])]


def test_while_waiting_for_the_first_token_it_still_reports_at_least_once_a_second() -> None:
    clock = [0.0]
    watch = AnswerWatch(clock=lambda: clock[0])
    sent = simulate([("claude-sonnet-4-5", watch)], 10.0, lambda now: clock.__setitem__(0, now))
    assert sent[0][0] == 0.0  # at once
    assert all(gap <= 1.0 for gap in gaps(sent)) and len(sent) >= 10
    progress = [value for _, value, _ in sent]
    assert progress == sorted(set(progress)) and progress[-1] < 0.1  # rising, yet no characters claimed
    assert sent[-1][2].startswith("claude-sonnet-4-5: waiting for the first token (")


def test_while_text_streams_it_reports_the_characters_at_most_four_times_a_second() -> None:
    watch = AnswerWatch()

    def arrive(now: float) -> None:
        if now <= 5.0:
            watch.received("x" * 310, watch.characters + 310)  # every tick: more than one notification's worth

    sent = simulate([("claude-sonnet-4-5", watch)], 8.0, arrive)
    streaming = [item for item in sent if item[0] <= 5.0]
    assert min(gaps(streaming)) >= 0.25  # never faster than 4 a second
    assert all(gap <= 1.0 for gap in gaps(sent))
    progress = [value for _, value, _ in sent]
    assert progress == sorted(set(progress))
    assert ("claude-sonnet-4-5: 6,200 characters" in sent[-1][2]) and progress[-1] == pytest.approx(6200, abs=0.05)
    assert any(message == "claude-sonnet-4-5: 1,240 characters" for _, _, message in sent)


def test_several_watches_are_one_rising_progress_with_one_message_each() -> None:
    first, second = AnswerWatch(), AnswerWatch()

    def arrive(now: float) -> None:
        if now == 1.0:
            first.received("abc", 3)
        if now == 2.0:
            second.received("", 1200)  # reasoning characters count, though no answer text yet

    sent = simulate([("gpt-4o", first), ("gemini-2.5-pro", second)], 3.0, arrive)
    assert [value for at, value, _ in sent if at == 2.0] == [1203.0] and sent[-1][1] == pytest.approx(1203, abs=0.01)
    assert sent[-1][2] == "gpt-4o: 3 characters; gemini-2.5-pro: 1,200 characters"
    assert second.text == "" and first.text == "abc"


def test_a_failing_send_does_not_stop_the_reports() -> None:
    calls: list[float] = []

    async def send(progress: float, message: str) -> None:
        calls.append(progress)
        raise RuntimeError("client went away")

    async def main() -> None:
        with anyio.move_on_after(0.2):
            await report_progress(send, [("m", AnswerWatch())], fastest=0.01, slowest=0.01)

    anyio.run(main)
    assert len(calls) > 3
