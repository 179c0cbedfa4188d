"""Campaign calls through the real dispatcher and a real livekit-server (no workers, so every
dispatch stays where it was put): the campaign's concurrency holds, a paused campaign's calls
wait, and a number put on the do-not-call list after its call was queued is never dialed."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from dialroom import campaign_intake, campaigns, dial_queue, dnc
from dialroom.call_status import CallStatus, current_status
from dialroom.campaigns import CampaignSpec, CampaignState
from dispatcher.service import Dispatcher
from tests.support.dispatching import dispatched, place, settings_for, status
from tests.support.stack import RunningStack
from tests.support.statuses import walk

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

NUMBERS = [f"+1415555010{i}" for i in range(1, 6)]


async def start_campaign(store: Redis, *, concurrency: int, numbers: list[str] = NUMBERS) -> str:
    spec = CampaignSpec.model_validate(
        {
            "persona": "demo",
            "concurrency": concurrency,
            "callees": [{"to_number": n} for n in numbers],
        }
    )
    return (await campaign_intake.create(store, spec)).campaign.campaign_id


async def calls_of(store: Redis, campaign_id: str) -> list[str]:
    return list(await store.lrange(campaigns.CALL_IDS_KEY.format(campaign_id=campaign_id), 0, -1))


async def test_a_campaign_never_has_more_than_its_concurrency_dialing(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    campaign_id = await start_campaign(store, concurrency=2)
    call_ids = await calls_of(store, campaign_id)
    settings = settings_for(stack, redis_url, max_concurrent_calls=100)
    most = 0
    for _ in range(len(call_ids) + 2):
        await Dispatcher(settings, redis=store).run(burst=True)
        dialing = [c for c in call_ids if await status(store, c) == CallStatus.DIALING]
        most = max(most, len(dialing))
        assert len(dialing) <= 2, "the campaign's concurrency was exceeded"
        for call_id in dialing:  # what a worker reports when each call ends
            await walk(store, call_id, CallStatus.ANSWERED, CallStatus.COMPLETED, attempt=1)
    assert most == 2
    assert [await status(store, c) for c in call_ids] == [CallStatus.COMPLETED] * len(call_ids)
    assert [len(await dispatched(stack, c)) for c in call_ids] == [1] * len(call_ids)


async def test_a_paused_campaign_waits_and_resumes_where_it_was(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    campaign_id = await start_campaign(store, concurrency=1, numbers=NUMBERS[:2])
    first, second = await calls_of(store, campaign_id)
    settings = settings_for(stack, redis_url)
    moved, _ = await campaigns.move(
        store, campaign_id, CampaignState.PAUSED, expect={CampaignState.RUNNING}
    )
    assert moved

    await Dispatcher(settings, redis=store).run(burst=True)
    assert [await status(store, c) for c in (first, second)] == [CallStatus.QUEUED] * 2
    assert await dispatched(stack, first) == []

    await campaigns.move(store, campaign_id, CampaignState.RUNNING, expect={CampaignState.PAUSED})
    await Dispatcher(settings, redis=store).run(burst=True)
    assert await status(store, first) == CallStatus.DIALING
    assert await status(store, second) == CallStatus.QUEUED, "concurrency 1: it waits its turn"


async def test_a_number_listed_after_queuing_is_not_dialed(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    listed_later, other = await place(store), await place(store, to_number="+14155550188")
    await dnc.add(store, "+14155550123", source="test")

    await Dispatcher(settings_for(stack, redis_url), redis=store).run(burst=True)

    now = await current_status(store, listed_later)
    assert now is not None and now.status == CallStatus.CANCELED
    assert "do-not-call" in (now.detail or "")
    assert await dispatched(stack, listed_later) == []
    assert await status(store, other) == CallStatus.DIALING
    assert await store.xlen(dial_queue.QUEUE_STREAM) == 0


async def test_a_campaign_call_listed_after_creation_frees_its_slot(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    campaign_id = await start_campaign(store, concurrency=1, numbers=NUMBERS[:2])
    first, second = await calls_of(store, campaign_id)
    await dnc.add(store, NUMBERS[0], source="test")
    settings = settings_for(stack, redis_url)

    # Releases the first, which the dispatcher cancels; its slot then goes to the second.
    await Dispatcher(settings, redis=store).run(burst=True)

    assert await status(store, first) == CallStatus.CANCELED
    assert await dispatched(stack, first) == []
    assert await status(store, second) == CallStatus.DIALING
