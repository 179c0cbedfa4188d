"""An outbound call dials before its agent is built and its room joined (both are done while
the phone rings), and a trunk configured by name is looked up once, not per call.

The worker's real outbound path (`worker.server._dial_out`, `worker.outbound.dial`) talks
through livekit's real API client to a fake LiveKit server on loopback speaking its Twirp
protocol (protobuf over HTTP), with the real Redis of the call statuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from livekit import api, rtc
from livekit.protocol import sip as sip_proto
from redis.asyncio import Redis

from dialroom.call_status import CallStatus, record_created, status_history
from dialroom.dial import DialRequest
from worker import outbound, prepare, trunks
from worker.call_state import new_call_state
from worker.providers import ProviderConfigError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
TRUNK_NAME, TRUNK_ID = "dialroom-dev-out", "ST_fake0001"
SIP = "/twirp/livekit.SIP"


@dataclass
class FakeLiveKit:
    """What livekit-server answers to a dial: the trunk list, and an answered callee."""

    trunk_id: str = TRUNK_ID
    lists: int = 0
    dials: list[api.CreateSIPParticipantRequest] = field(default_factory=list)
    dialed: asyncio.Event = field(default_factory=asyncio.Event)
    refuse: bool = False
    busy: bool = False  # the callee answers 486 Busy Here, as the bench's INVITE counter
    ringing: bool = False  # the callee does not answer until the test ends
    hang_up: asyncio.Event = field(default_factory=asyncio.Event)

    async def list_trunks(self, request: web.Request) -> web.Response:
        self.lists += 1
        trunk = sip_proto.SIPOutboundTrunkInfo(sip_trunk_id=self.trunk_id, name=TRUNK_NAME)
        body = api.ListSIPOutboundTrunkResponse(items=[trunk]).SerializeToString()
        return web.Response(body=body, content_type="application/protobuf")

    async def create(self, request: web.Request) -> web.Response:
        dial = api.CreateSIPParticipantRequest.FromString(await request.read())
        self.dials.append(dial)
        self.dialed.set()
        if self.ringing:
            await self.hang_up.wait()
        if self.refuse:
            error = {"code": "not_found", "msg": "requested sip trunk does not exist"}
            return web.json_response(error, status=404)
        if self.busy:
            meta = {"sip_status_code": "486", "sip_status": "Busy Here"}
            error = {"code": "unavailable", "msg": "busy", "meta": meta}
            return web.json_response(error, status=503)
        info = api.SIPParticipantInfo(participant_identity=dial.participant_identity)
        return web.Response(body=info.SerializeToString(), content_type="application/protobuf")


@pytest.fixture
async def livekit() -> AsyncIterator[tuple[FakeLiveKit, api.LiveKitAPI]]:
    fake = FakeLiveKit()
    app = web.Application()
    app.router.add_post(f"{SIP}/ListSIPOutboundTrunk", fake.list_trunks)
    app.router.add_post(f"{SIP}/CreateSIPParticipant", fake.create)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = api.LiveKitAPI(url=f"http://127.0.0.1:{port}", api_key="k", api_secret="s" * 32)
    try:
        yield fake, client
    finally:
        fake.hang_up.set()
        await client.aclose()
        await runner.cleanup()


@dataclass
class JobContextLike:
    """What the outbound path reads of livekit's JobContext."""

    api: api.LiveKitAPI
    room: rtc.Room = field(default_factory=rtc.Room)
    steps: list[str] = field(default_factory=list)

    async def connect(self) -> None:
        self.steps.append("connect")

    def delete_room(self) -> None:
        self.steps.append("delete_room")

    def shutdown(self, reason: str = "") -> None:
        self.steps.append(f"shutdown:{reason}")


def request(n: int) -> DialRequest:
    return DialRequest(call_id=f"early-{n:04d}", to_number="+15551230000", persona="demo")


async def queued(store: Redis, dial: DialRequest) -> DialRequest:
    async with store.pipeline(transaction=True) as pipe:  # as the API queues it
        record_created(pipe, dial.call_id, CallStatus.QUEUED, attempt=1)
        await pipe.execute()
    return dial


async def test_the_dial_goes_out_before_the_agent_is_built(
    store: Redis, livekit: tuple[FakeLiveKit, api.LiveKitAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker import server  # the worker's AgentServer is built, not run

    fake, client = livekit
    built = prepare.build_session

    def build_after_dial(*args: object, **kwargs: object) -> object:
        # no await possible here: the dial must already have reached LiveKit
        assert fake.dials, "the agent's session was built before the dial was sent"
        ctx.steps.append("build_session")
        return built(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(prepare, "build_session", build_after_dial)

    async def connect_after_dial() -> None:
        await asyncio.wait_for(fake.dialed.wait(), 10)  # the room is joined beside the dial
        ctx.steps.append("connect")

    ctx = JobContextLike(api=client)
    ctx.connect = connect_after_dial  # type: ignore[method-assign]
    dial = await queued(store, request(1))
    state = new_call_state(dial, room=dial.room_name, default_persona="demo")
    started = await server._dial_out(ctx, dial, state, store)  # type: ignore[arg-type]

    assert started is not None and started[1] == f"callee-{dial.call_id}"
    assert ctx.steps == ["connect", "build_session"]
    assert fake.dials[0].sip_trunk_id == TRUNK_ID
    statuses = [entry.status for entry in await status_history(store, dial.call_id)]
    assert statuses[-2:] == [CallStatus.DIALING, CallStatus.ANSWERED]


async def test_a_persona_that_cannot_start_dials_nobody(
    store: Redis, livekit: tuple[FakeLiveKit, api.LiveKitAPI]
) -> None:
    from worker import server

    fake, client = livekit
    ctx = JobContextLike(api=client)
    dial = request(2).model_copy(update={"persona": "no-such-persona"})
    state = new_call_state(dial, room=dial.room_name, default_persona="demo")
    assert await server._dial_out(ctx, dial, state, store) is None  # type: ignore[arg-type]
    assert fake.dials == [] and ctx.steps == ["delete_room", "shutdown:cannot start"]


async def test_a_trunk_name_is_looked_up_once_for_two_calls(
    store: Redis, livekit: tuple[FakeLiveKit, api.LiveKitAPI]
) -> None:
    fake, client = livekit
    for n in (3, 4):
        ctx = JobContextLike(api=client)
        await outbound.dial(ctx, request(n), redis=store, trunk=TRUNK_NAME, ring_timeout_s=5)  # type: ignore[arg-type]
    assert fake.lists == 1
    assert [d.sip_trunk_id for d in fake.dials] == [TRUNK_ID, TRUNK_ID]
    assert 0 < await store.ttl(trunks.KEY.format(name=TRUNK_NAME)) <= trunks.TTL_S


async def test_a_cached_trunk_id_livekit_refuses_is_looked_up_again(
    store: Redis, livekit: tuple[FakeLiveKit, api.LiveKitAPI]
) -> None:
    fake, client = livekit
    await store.set(trunks.KEY.format(name=TRUNK_NAME), "ST_deleted")
    fake.refuse = True
    with pytest.raises(outbound.DialFailed):
        await outbound.dial(
            JobContextLike(api=client), request(5), redis=store, trunk=TRUNK_NAME, ring_timeout_s=5
        )  # type: ignore[arg-type]
    assert fake.dials[0].sip_trunk_id == "ST_deleted" and fake.lists == 0
    fake.refuse = False
    await outbound.dial(
        JobContextLike(api=client), request(6), redis=store, trunk=TRUNK_NAME, ring_timeout_s=5
    )  # type: ignore[arg-type]
    assert fake.lists == 1 and fake.dials[1].sip_trunk_id == TRUNK_ID


async def test_an_agent_that_cannot_be_built_while_it_rings_ends_the_dial(
    store: Redis, livekit: tuple[FakeLiveKit, api.LiveKitAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker import server

    fake, client = livekit
    fake.ringing = True

    def broken(*_args: object, **_kwargs: object) -> object:
        raise ProviderConfigError("no voice")

    monkeypatch.setattr(prepare, "build_session", broken)

    async def connect_while_ringing() -> None:
        await asyncio.wait_for(fake.dialed.wait(), 10)

    ctx = JobContextLike(api=client)
    ctx.connect = connect_while_ringing  # type: ignore[method-assign]
    dial = await queued(store, request(7))
    state = new_call_state(dial, room=dial.room_name, default_persona="demo")
    async with asyncio.timeout(10):
        assert await server._dial_out(ctx, dial, state, store) is None  # type: ignore[arg-type]
    assert len(fake.dials) == 1 and "delete_room" in ctx.steps  # the room's end hangs up
    statuses = [entry.status for entry in await status_history(store, dial.call_id)]
    assert statuses[-1] == CallStatus.FAILED and CallStatus.ANSWERED not in statuses


async def test_a_persona_that_screens_for_machines_joins_the_room_before_it_dials(
    store: Redis, livekit: tuple[FakeLiveKit, api.LiveKitAPI]
) -> None:
    """Its answering machine check must hear the callee's "Hello?" from the start."""
    from worker import server

    fake, client = livekit
    ctx = JobContextLike(api=client)

    async def connect() -> None:
        ctx.steps.append(f"connect after {len(fake.dials)} dial(s)")

    ctx.connect = connect  # type: ignore[method-assign]
    dial = await queued(store, request(8).model_copy(update={"persona": "reminder"}))
    state = new_call_state(dial, room=dial.room_name, default_persona="demo")
    assert await server._dial_out(ctx, dial, state, store) is not None  # type: ignore[arg-type]
    assert ctx.steps == ["connect after 0 dial(s)"] and len(fake.dials) == 1


async def test_a_busy_callee_stops_the_room_join_and_builds_no_agent(
    store: Redis, livekit: tuple[FakeLiveKit, api.LiveKitAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call that never connects costs no WebRTC set-up and no session: the join still
    under way when the 486 comes back is cancelled, and the job ends at once."""
    from worker import server

    fake, client = livekit
    fake.busy = True
    built: list[object] = []
    monkeypatch.setattr(prepare, "build_session", lambda *a, **k: built.append(a))
    joining = asyncio.Event()

    async def slow_connect() -> None:  # a join on a loaded box: seconds
        joining.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            ctx.steps.append("connect cancelled")
            raise

    ctx = JobContextLike(api=client)
    ctx.connect = slow_connect  # type: ignore[method-assign]
    dial = await queued(store, request(9))
    state = new_call_state(dial, room=dial.room_name, default_persona="demo")
    async with asyncio.timeout(5):
        assert await server._dial_out(ctx, dial, state, store) is None  # type: ignore[arg-type]
    assert joining.is_set() and len(fake.dials) == 1
    assert ctx.steps == ["shutdown:busy", "connect cancelled"] and built == []
    statuses = [entry.status for entry in await status_history(store, dial.call_id)]
    assert statuses[-1] == CallStatus.BUSY
