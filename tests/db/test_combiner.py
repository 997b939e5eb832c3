"""Group commit: every caller gets its own answer, from a batch that holds its request."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Sequence

import pytest

from openmvne.db.combiner import AsyncCombiner, Combiner


def test_concurrent_callers_share_batches_and_each_gets_its_own_answer() -> None:
    batches: list[list[int]] = []
    gate = threading.Event()

    def run(asks: Sequence[int]) -> list[int | BaseException]:
        gate.wait(5)  # the first batch waits until everyone has queued behind it
        batches.append(list(asks))
        return [ValueError(f"odd {a}") if a % 2 else a * 10 for a in asks]

    combiner: Combiner[int, int] = Combiner(run, max_batch=16)
    answers: dict[int, int | str] = {}

    def call(n: int) -> None:
        try:
            answers[n] = combiner.submit(n)
        except ValueError as exc:
            answers[n] = str(exc)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(40)]
    threads[0].start()
    while not combiner._leading:  # the first caller leads before others queue
        pass
    for thread in threads[1:]:
        thread.start()
    while len(combiner._queue) < 39:
        pass
    gate.set()
    for thread in threads:
        thread.join(10)
    assert answers == {n: (f"odd {n}" if n % 2 else n * 10) for n in range(40)}
    assert sorted(a for batch in batches for a in batch) == list(range(40))  # each ran once
    assert batches[0] == [0]  # a lone request runs at once
    assert all(len(batch) <= 16 for batch in batches)
    assert len(batches) == 4  # 1, then 39 queued in batches of at most 16


def test_a_failed_batch_fails_each_of_its_requests_and_the_next_batch_runs() -> None:
    calls = []

    def run(asks: Sequence[str]) -> list[str | BaseException]:
        calls.append(list(asks))
        if "boom" in asks:
            raise RuntimeError("database gone")
        return [a.upper() for a in asks]

    combiner: Combiner[str, str] = Combiner(run)
    with pytest.raises(RuntimeError, match="database gone"):
        combiner.submit("boom")
    assert combiner.submit("ok") == "OK"  # the lead was handed back
    assert calls == [["boom"], ["ok"]]


def test_the_event_loop_combiner_answers_everyone_with_at_most_two_batches_at_once() -> None:
    running = 0
    most = 0
    lock = threading.Lock()
    sizes: list[int] = []

    def run(asks: Sequence[int]) -> list[int | BaseException]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.002)
        with lock:
            running -= 1
            sizes.append(len(asks))
        return [KeyError(a) if a % 7 == 0 else a + 1 for a in asks]

    async def main() -> list[int | str]:
        combiner: AsyncCombiner[int, int] = AsyncCombiner(run, max_batch=10, parallel=2)

        async def one(n: int) -> int | str:
            await asyncio.sleep(random.random() / 100)  # arrivals spread over the batches
            try:
                return await combiner.submit(n)
            except KeyError:
                return "refused"

        return await asyncio.gather(*(one(n) for n in range(300)))

    answers = asyncio.run(main())
    assert answers == [("refused" if n % 7 == 0 else n + 1) for n in range(300)]
    assert sum(sizes) == 300
    assert most == 2  # two batches overlapped, never three
    assert max(sizes) <= 10
