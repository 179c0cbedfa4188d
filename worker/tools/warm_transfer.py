"""`transfer_call` with `warm: true`: brief a human first, then bring them to the caller.

livekit-agents' WarmTransferTask does the work: the caller hears hold music, the human is
dialled through the outbound trunk into a room of their own, a second session briefs them,
and its `connect_to_caller` tool joins them to the caller. The framework joins them with
MoveParticipant, which only LiveKit Cloud implements (the open-source server answers "not
implemented"), so `RelayedWarmTransfer` joins them by relaying each side's audio into the
other's room instead. The agent stops talking but stays, relaying, until either side hangs
up; then both rooms are deleted and both legs end (`bridged` tells the worker so).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from livekit import api, rtc
from livekit.agents import NOT_GIVEN, RunContext, ToolError, function_tool, get_job_context, llm
from livekit.agents.beta.workflows import WarmTransferTask

from dialroom.persona import TransferTool
from dialroom.redact import mask_number
from worker.call_state import CallState
from worker.outbound import DialFailed, resolve_outbound_trunk
from worker.providers.briefing_llm import BriefingLLM
from worker.providers.flow_llm import TRANSFER_TOOL
from worker.settings import WorkerSettings
from worker.tools.transfer import TRANSFERRED

logger = logging.getLogger("dialroom.worker.transfer")
RELAY_TRACK = "warm-transfer-relay"  # the relayed audio's track name, in both rooms
SAMPLE_RATE = 48000


def warm_transfer_tool(config: TransferTool, *, scripted: bool) -> llm.FunctionTool:
    """`scripted`: a flow persona, briefed by rule (BriefingLLM) instead of by its model."""

    async def transfer_call(ctx: RunContext[CallState]) -> None:
        ctx.disallow_interruptions()
        await ctx.wait_for_playout()  # "please hold" is heard before the hold music
        await warm_transfer(ctx, config, scripted=scripted)

    return function_tool(transfer_call, name=TRANSFER_TOOL, description=config.description)


async def warm_transfer(
    ctx: RunContext[CallState], config: TransferTool, *, scripted: bool
) -> None:
    """Dial, brief, join; a failure (no answer, declined) raises ToolError to the LLM."""
    settings = WorkerSettings()
    state = ctx.userdata
    caller = ctx.session.room_io.linked_participant
    if caller is None:
        raise ToolError("The caller is no longer on the line.")
    try:
        trunk_id = await resolve_outbound_trunk(get_job_context().api, settings.sip_outbound_trunk)
    except DialFailed as err:
        raise ToolError("The transfer is not possible right now; offer other help.") from err
    number = config.to.removeprefix("tel:")
    task = RelayedWarmTransfer(
        number,
        caller_identity=caller.identity,
        sip_trunk_id=trunk_id,
        ringing_timeout=settings.ring_timeout_s,
        chat_ctx=ctx.session.history,
        extra_instructions=config.briefing,
        llm=BriefingLLM(briefing=config.briefing) if scripted else NOT_GIVEN,
    )
    logger.info("call %s: warm transfer to %s", state.call_id, mask_number(number))
    await task  # a ToolError (no answer, declined, hung up) reaches the LLM as is
    state.outcome_override = TRANSFERRED
    logger.info("call %s: the human joined the caller", state.call_id)
    # The agent's part is over: close its session once this tool call is done (see `bridged`).
    ctx.speech_handle.add_done_callback(lambda _: ctx.session.shutdown(drain=False))


class RelayedWarmTransfer(WarmTransferTask):
    """WarmTransferTask whose final step relays audio between the rooms (no MoveParticipant)."""

    def __init__(self, sip_call_to: str, *, caller_identity: str, **kwargs: object) -> None:
        super().__init__(sip_call_to, **kwargs)  # type: ignore[arg-type]
        self._caller_identity = caller_identity

    async def _merge_calls(self) -> None:
        assert self._caller_room is not None and self._human_agent_sess is not None
        briefing = self._human_agent_sess
        human_room = briefing.room_io.room
        human_room.off("disconnected", self._on_human_agent_room_close)
        # The briefing session goes quiet but keeps its room: closing it would delete the
        # room and with it the human's leg (so _set_result must not see it).
        briefing.input.set_audio_enabled(False)
        briefing.output.set_audio_enabled(False)
        self._human_agent_sess = None
        relay = Relay(self._caller_room, human_room)
        await relay.start(caller=self._caller_identity, human=self._human_agent_identity)


class Relay:
    """Each side's voice, republished in the other side's room, until one side hangs up."""

    def __init__(self, caller_room: rtc.Room, human_room: rtc.Room) -> None:
        self._caller_room, self._human_room = caller_room, human_room
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, *, caller: str, human: str) -> None:
        job = get_job_context()
        to_caller = _audio_track(self._human_room, human)
        to_human = _audio_track(self._caller_room, caller)
        into_caller = await _publish(self._caller_room)
        into_human = await _publish(self._human_room)
        self._tasks = [
            asyncio.create_task(_pipe(to_caller, into_caller), name="relay-to-caller"),
            asyncio.create_task(_pipe(to_human, into_human), name="relay-to-human"),
        ]
        job.add_shutdown_callback(self._close)

        def hung_up(participant: rtc.RemoteParticipant) -> None:
            if participant.identity in (caller, human):
                who = "the caller" if participant.identity == caller else "the human"
                logger.info("warm transfer: %s hung up, ending both legs", who)
                job.delete_room(room_name=self._caller_room.name)

        self._caller_room.on("participant_disconnected", hung_up)
        self._human_room.on("participant_disconnected", hung_up)

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(api.TwirpError):  # gone already: the human hung up
            await get_job_context().api.room.delete_room(
                api.DeleteRoomRequest(room=self._human_room.name)
            )
        await self._human_room.disconnect()


def _audio_track(room: rtc.Room, identity: str) -> rtc.Track:
    participant = room.remote_participants.get(identity)
    if participant is None:
        raise ToolError(f"{identity} left before the transfer")
    for publication in participant.track_publications.values():
        if publication.kind == rtc.TrackKind.KIND_AUDIO and publication.track is not None:
            return publication.track
    raise ToolError(f"no audio from {identity}")


async def _publish(room: rtc.Room) -> rtc.AudioSource:
    source = rtc.AudioSource(SAMPLE_RATE, 1)
    local = rtc.LocalAudioTrack.create_audio_track(RELAY_TRACK, source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await room.local_participant.publish_track(local, options)
    return source


async def _pipe(track: rtc.Track, source: rtc.AudioSource) -> None:
    async for event in rtc.AudioStream(track, sample_rate=SAMPLE_RATE, num_channels=1):
        await source.capture_frame(event.frame)


def bridged(room: rtc.Room) -> bool:
    """Whether this room relays a warm-transferred human (then it must stay until a hang-up)."""
    return any(p.name == RELAY_TRACK for p in room.local_participant.track_publications.values())
