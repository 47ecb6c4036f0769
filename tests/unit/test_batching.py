"""The serving micro-batcher: concurrent requests scored together, each given its own rows back.

A real :class:`MicroBatcher` in a real event loop, with a scorer that records
what it was given and answers each row with its own id, so that a request
that got another's rows would show it. While the scorer is held (a gate the
test opens), the requests that arrive queue up: that is when batches form.
"""

import asyncio
import threading

import numpy as np
import pandas as pd
import pytest

from easy_mlops.deployment.loading import Scores
from easy_mlops.serving.batching import Batch, MicroBatcher

BAD_ID = 13  # the scorer fails on a batch holding this row id


class Scorer:
    """Predicts each row's ``id``, and with ``proba`` the probabilities ``[id, -id]``; held by ``gate``."""

    def __init__(self, held: bool = False) -> None:
        self.calls: list[tuple[list[int], bool]] = []  # each call's ids and proba flag
        self.started = threading.Event()
        self.gate = threading.Event()
        if not held:
            self.gate.set()

    def __call__(self, frame: pd.DataFrame, proba: bool) -> Scores:
        ids = frame["id"].to_numpy()
        self.calls.append((ids.tolist(), proba))
        self.started.set()
        assert self.gate.wait(10), "the test never opened the gate"
        if BAD_ID in ids:
            raise ValueError(f"cannot score row {BAD_ID}")
        probabilities = np.column_stack([ids, -ids]).astype(float) if proba else None
        return Scores(ids.copy(), np.array(["a", "b"]) if proba else None, probabilities)

    def batch_ids(self) -> list[list[int]]:
        return [ids for ids, _ in self.calls]


def rows(*ids: int) -> pd.DataFrame:
    return pd.DataFrame({"id": list(ids), "x": [float(i) for i in ids]})


async def first_one_held(batcher: MicroBatcher, scorer: Scorer) -> asyncio.Task:
    """A first request, being scored and held there until ``scorer.gate`` opens."""
    task = asyncio.create_task(batcher.predict(rows(0)))
    assert await asyncio.to_thread(scorer.started.wait, 10)
    return task


def run(main) -> object:
    """``main(batcher-maker)`` in a fresh event loop; every batcher it made is stopped after."""

    async def wrapper():
        made = []

        def batcher(*args, **kwargs) -> MicroBatcher:
            made.append(MicroBatcher(*args, **kwargs))
            made[-1].start()
            return made[-1]

        try:
            return await asyncio.wait_for(main(batcher), 30)
        finally:
            for each in made:
                await each.stop()

    return asyncio.run(wrapper())


def test_requests_that_queue_while_a_batch_is_scored_are_scored_together_each_getting_its_rows():
    scorer = Scorer(held=True)

    async def main(batcher):
        micro = batcher(scorer)
        first = await first_one_held(micro, scorer)
        queued = [asyncio.create_task(micro.predict(rows(*ids))) for ids in ([1, 2], [3], [4, 5, 6])]
        await asyncio.sleep(0)  # each is in the queue
        scorer.gate.set()
        return await first, await asyncio.gather(*queued)

    first, queued = run(main)
    assert scorer.batch_ids() == [[0], [1, 2, 3, 4, 5, 6]]  # an idle server scores the first alone
    assert first.predictions.tolist() == [0]
    assert [scores.predictions.tolist() for scores in queued] == [[1, 2], [3], [4, 5, 6]]


def test_a_batch_holds_at_most_max_rows_and_never_splits_a_request():
    scorer = Scorer(held=True)

    async def main(batcher):
        micro = batcher(scorer, max_rows=4)
        first = await first_one_held(micro, scorer)
        sizes = {1: [1, 2, 3], 2: [4, 5, 6], 3: [7], 4: [8, 9, 10, 11, 12, 14]}
        queued = [asyncio.create_task(micro.predict(rows(*ids))) for ids in sizes.values()]
        await asyncio.sleep(0)
        scorer.gate.set()
        await first
        return await asyncio.gather(*queued)

    queued = run(main)
    # 3 + 3 rows would pass 4: the second request leads the next batch; 6 rows alone are one request.
    assert scorer.batch_ids() == [[0], [1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11, 12, 14]]
    assert [scores.predictions.tolist() for scores in queued] == [
        [1, 2, 3],
        [4, 5, 6],
        [7],
        [8, 9, 10, 11, 12, 14],
    ]


def test_a_batch_with_one_request_for_probabilities_is_scored_with_them_and_sliced_by_request():
    scorer = Scorer(held=True)

    async def main(batcher):
        micro = batcher(scorer)
        first = await first_one_held(micro, scorer)
        plain = asyncio.create_task(micro.predict(rows(1, 2)))
        wanted = asyncio.create_task(micro.predict(rows(3, 4, 5), proba=True))
        await asyncio.sleep(0)
        scorer.gate.set()
        return await first, await plain, await wanted

    first, plain, wanted = run(main)
    assert scorer.calls == [([0], False), ([1, 2, 3, 4, 5], True)]
    assert first.probabilities is None
    assert wanted.classes.tolist() == ["a", "b"]
    assert wanted.probabilities.tolist() == [[3, -3], [4, -4], [5, -5]]
    assert plain.probabilities.tolist() == [[1, -1], [2, -2]]  # its own rows; the handler leaves them out


def test_an_idle_server_dispatches_at_once_and_max_wait_gathers_only_while_others_are_queued():
    async def lone(batcher):
        return await asyncio.wait_for(batcher(Scorer(), max_wait_s=60).predict(rows(7)), 5)

    assert run(lone).predictions.tolist() == [7]  # nothing else was queued: no waiting for more rows

    def batches(max_wait_s: float) -> list[list[int]]:
        scorer = Scorer(held=True)

        async def main(batcher):
            micro = batcher(scorer, max_wait_s=max_wait_s)
            first = await first_one_held(micro, scorer)
            queued = [asyncio.create_task(micro.predict(rows(ids))) for ids in (1, 2)]
            await asyncio.sleep(0)
            scorer.gate.set()
            await first
            await asyncio.sleep(0.05)  # a request that comes 50 ms after 1 and 2 were taken
            late = await micro.predict(rows(3))
            answers = [scores.predictions.tolist() for scores in [*await asyncio.gather(*queued), late]]
            assert answers == [[1], [2], [3]]

        run(main)
        return scorer.batch_ids()

    assert batches(max_wait_s=0.0) == [[0], [1, 2], [3]]
    assert batches(max_wait_s=0.5) == [[0], [1, 2, 3]]  # 1 and 2 waited for more rows


def test_a_request_whose_caller_gave_up_is_not_scored():
    scorer = Scorer(held=True)

    async def main(batcher):
        micro = batcher(scorer)
        first = await first_one_held(micro, scorer)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(micro.predict(rows(1, 2)), 0.01)  # the server's timeout_s
        still = asyncio.create_task(micro.predict(rows(3)))
        await asyncio.sleep(0)
        scorer.gate.set()
        await first
        return await still

    assert run(main).predictions.tolist() == [3]
    assert scorer.batch_ids() == [[0], [3]]


def test_a_failing_request_fails_alone_and_on_batch_hears_of_each_scored_batch():
    scorer = Scorer(held=True)
    heard: list[Batch] = []

    async def main(batcher):
        micro = batcher(scorer, on_batch=heard.append)
        first = await first_one_held(micro, scorer)
        queued = [asyncio.create_task(micro.predict(rows(*ids))) for ids in ([1, 2], [BAD_ID], [4])]
        await asyncio.sleep(0)
        scorer.gate.set()
        await first
        answers = await asyncio.gather(*queued, return_exceptions=True)
        alone = await asyncio.gather(micro.predict(rows(BAD_ID)), return_exceptions=True)
        return answers, alone, await micro.predict(rows(5))

    (good, bad, other), [alone], after = run(main)
    assert good.predictions.tolist() == [1, 2] and other.predictions.tolist() == [4]
    assert isinstance(bad, ValueError) and str(bad) == f"cannot score row {BAD_ID}"
    assert isinstance(alone, ValueError)
    assert after.predictions.tolist() == [5]  # the batcher goes on
    # The batch failed as a whole, so each request was scored on its own; only what succeeded is heard.
    assert scorer.batch_ids() == [[0], [1, 2, BAD_ID, 4], [1, 2], [BAD_ID], [4], [BAD_ID], [5]]
    assert [[frame["id"].tolist() for frame in batch.frames] for batch in heard] == [
        [[0]],
        [[1, 2]],
        [[4]],
        [[5]],
    ]
    assert [batch.rows for batch in heard] == [1, 2, 1, 1]
    assert all(batch.seconds >= 0 for batch in heard)


def test_a_failing_on_batch_loses_no_answer_and_stops_nothing(caplog):
    scorer = Scorer()

    def on_batch(batch: Batch) -> None:
        raise OSError("No space left on device")  # where the server logs what it scored

    async def main(batcher):
        micro = batcher(scorer, on_batch=on_batch)
        return [await micro.predict(rows(i)) for i in range(3)]

    assert [scores.predictions.tolist() for scores in run(main)] == [[0], [1], [2]]
    assert [record.getMessage() for record in caplog.records] == ["could not record a batch of 1 row(s)"] * 3


def test_stop_scores_everything_queued_first():
    scorer = Scorer(held=True)

    async def main(batcher):
        micro = batcher(scorer)
        first = await first_one_held(micro, scorer)
        queued = [asyncio.create_task(micro.predict(rows(i))) for i in (1, 2, 3)]
        await asyncio.sleep(0)
        stopping = asyncio.create_task(micro.stop())
        await asyncio.sleep(0.01)
        assert not stopping.done()  # still scoring
        scorer.gate.set()
        await stopping
        with pytest.raises(RuntimeError):  # the scoring thread is gone
            micro.executor.submit(print)
        return await first, [task.result() for task in queued]

    first, queued = run(main)
    assert [scores.predictions.tolist() for scores in queued] == [[1], [2], [3]]
    assert scorer.batch_ids() == [[0], [1, 2, 3]]
