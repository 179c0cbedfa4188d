"""A worker's answer to each call livekit-server offers it (`worker.capacity.Lines`): a free
line takes any call; a full worker's overflow slot is for telling one more caller the lines are
busy, never for dialling an outbound call. Offered through livekit-agents' own `JobRequest`."""

from __future__ import annotations

from typing import Any

from livekit.agents import JobRequest
from livekit.agents.job import JobAcceptArguments
from livekit.protocol import agent, models

from dialroom.dial import DialRequest
from worker.capacity import OVERFLOW_ATTRIBUTE, Lines
from worker.settings import WorkerSettings

MAX_CALLS = 2
OUTBOUND = DialRequest(call_id="call-one", to_number="+15550001111", persona="demo")


class Server:
    """What `Lines` reads of livekit-agents' AgentServer: its running jobs and drain state."""

    def __init__(self, calls: int) -> None:
        self.active_jobs: list[Any] = [object()] * calls
        self.draining = False

    def on(self, _event: str, _callback: object) -> None:
        pass


class Offer:
    """One job request and what the worker answered."""

    def __init__(self, metadata: str) -> None:
        self.answer: tuple[str, Any] | None = None
        job = agent.Job(id="AJ_1", room=models.Room(name="call-1"), metadata=metadata)
        self.request = JobRequest(job=job, on_reject=self._reject, on_accept=self._accept)

    async def _reject(self, terminate: bool) -> None:
        self.answer = ("reject", terminate)

    async def _accept(self, args: JobAcceptArguments) -> None:
        self.answer = ("accept", args.attributes)


async def offered(metadata: str, *, calls: int) -> tuple[str, Any] | None:
    lines = Lines(Server(calls), WorkerSettings(max_calls_per_worker=MAX_CALLS))  # type: ignore[arg-type]
    offer = Offer(metadata)
    await lines.on_request(offer.request)
    return offer.answer


async def test_a_worker_with_a_free_line_takes_inbound_and_outbound_calls() -> None:
    assert await offered("{}", calls=MAX_CALLS - 1) == ("accept", None)
    assert await offered(OUTBOUND.model_dump_json(), calls=MAX_CALLS - 1) == ("accept", None)


async def test_a_full_worker_takes_one_more_inbound_caller_on_its_overflow_slot() -> None:
    assert await offered("{}", calls=MAX_CALLS) == ("accept", {OVERFLOW_ATTRIBUTE: "true"})


async def test_a_full_worker_leaves_an_outbound_call_for_a_free_line() -> None:
    """Not terminated: livekit-server may offer it to another worker, else the dispatcher
    offers it again once nobody has taken it (`dispatcher.redispatch`)."""
    assert await offered(OUTBOUND.model_dump_json(), calls=MAX_CALLS) == ("reject", False)
