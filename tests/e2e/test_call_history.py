"""A real inbound SIP call reaches the call history: the dispatcher's archiver moves it out of
Redis, the API finds it by the last digits of the caller's number, reads it by id from the
history, and erases it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from callcheck.phone import dial
from tests.support.history import sqlite_url
from tests.support.stack import RunningStack, start_stack

pytestmark = pytest.mark.e2e

CALLER = "+14155550177"


@pytest.fixture(scope="module")
def history_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = {"DATABASE_URL": sqlite_url(tmp_path_factory.mktemp("history"))}
    running = start_stack(tmp_path_factory.mktemp("stack"), num_agents=1, env=env)
    yield running
    running.stop()


def test_an_inbound_call_is_found_in_the_history_by_the_last_digits_of_its_number(
    history_stack: RunningStack, tmp_path: Path
) -> None:
    result = dial(
        history_stack.state.sip_uri,
        result_dir=tmp_path,
        from_user=CALLER,
        hangup_after=2.5,
        timeout=60,
    )
    assert result.call.status_code == 200
    with history_stack.api_client() as client:
        deadline = time.monotonic() + 30
        while not (calls := _archived(client.get("/api/calls", params={"number": "0177"}).json())):
            assert time.monotonic() < deadline, "the call never reached the history"
            time.sleep(0.25)
        [call] = calls
        assert (call["direction"], call["caller_number"]) == ("inbound", CALLER)
        assert call["outcome"] == "caller_hung_up"
        detail = client.get(f"/api/calls/{call['call_id']}").json()
        assert detail["archived"] is True and detail["record"]["persona"] == "demo"
        trunk = detail["record"]["trunk"]  # livekit-sip's id of the inbound trunk it came by
        assert trunk.startswith("ST_"), detail["record"]
        by_trunk = client.get("/api/calls", params={"trunk": trunk}).json()["calls"]
        assert call["call_id"] in [c["call_id"] for c in by_trunk]
        assert client.delete(f"/api/calls/{call['call_id']}").status_code == 204
        assert client.get(f"/api/calls/{call['call_id']}").status_code == 404


def _archived(page: dict[str, list[dict[str, object]]]) -> list[dict[str, object]]:
    return [c for c in page["calls"] if c["outcome"] is not None]
