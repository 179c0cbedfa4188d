"""A browser call through the real stack: the console's "Talk to this persona" in Debian's
Chromium, with a fake microphone playing a recorded caller line.

The page joins the LiveKit room with livekit-client (the UMD build the console ships) and its
microphone; Chromium's fake capture device plays silence while the demo persona greets, then
"I would like to come in on Tuesday, please.", then silence. The persona's audio is recorded
in the page (MediaRecorder on the remote track, from the moment livekit-client attaches it),
handed back to Python and transcribed with local Whisper: the greeting is heard, and the
reply names Tuesday, which only a persona that heard the caller can say. The call record says
direction `browser`, no number, and has the caller's line in its transcript.
"""

from __future__ import annotations

import asyncio
import base64
import time
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit import api as livekit
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from dialroom.settings import DEV_API_KEY, DEV_API_SECRET, DEV_DIALROOM_API_KEY
from stack.install_browser import browser_path
from tests.e2e.conftest import FIXTURES
from tests.support.history import sqlite_url
from tests.support.stack import RunningStack, start_stack
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e

LEAD_S = 8.0  # the demo greeting takes ~5 s: the caller speaks once it has finished
TAIL_S = 30.0  # then silence (the file does not loop) while the persona answers and hangs up
CALL_TIMEOUT_MS = 60_000

# Starts a MediaRecorder on each remote audio element the page adds (the persona's track),
# from the moment livekit-client attaches it, so the greeting's first word is not lost.
RECORD_REMOTE_AUDIO = """() => {
  window.__heard = null;
  new MutationObserver((changes, observer) => {
    const el = document.querySelector("#talk-audio audio");
    if (!el || !el.srcObject) return;
    observer.disconnect();
    const recorder = new MediaRecorder(el.srcObject, { mimeType: "audio/webm;codecs=opus" });
    const chunks = [];
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    recorder.onstop = () => {
      const reader = new FileReader();
      reader.onload = () => { window.__heard = reader.result.split(",")[1]; };
      reader.readAsDataURL(new Blob(chunks, { type: "audio/webm" }));
    };
    window.__recorder = recorder;
    recorder.start(250);
  }).observe(document.getElementById("talk-audio"), { childList: true, subtree: true });
}"""


def _caller_line(path: Path) -> Path:
    """The Tuesday fixture (tests/support/fixtures.py) between silences, as one WAV."""
    with wave.open(str(FIXTURES / "caller_tuesday.wav")) as src:
        params, pcm = src.getparams(), src.readframes(src.getnframes())
    silence = b"\x00" * (params.sampwidth * params.nchannels)
    with wave.open(str(path), "wb") as out:
        out.setparams(params)
        out.writeframes(silence * int(params.framerate * LEAD_S))
        out.writeframes(pcm)
        out.writeframes(silence * int(params.framerate * TAIL_S))
    return path


@pytest.fixture(scope="module")
def talk_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = {"DATABASE_URL": sqlite_url(tmp_path_factory.mktemp("history"))}
    running = start_stack(tmp_path_factory.mktemp("stack"), num_agents=1, env=env)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(talk_stack: RunningStack) -> Iterator[httpx.Client]:
    with talk_stack.api_client() as client:
        yield client


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    path = browser_path()
    assert path.is_file(), f"{path} missing: run `python start.py install --test-tools`"
    line = _caller_line(tmp_path_factory.mktemp("microphone") / "caller.wav")
    args = [
        "--no-sandbox",
        "--use-fake-ui-for-media-stream",  # the microphone prompt says yes
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={line}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(path), headless=True, args=args)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def context(browser: Browser, talk_stack: RunningStack) -> Iterator[BrowserContext]:
    made = browser.new_context(base_url=talk_stack.state.api_url, permissions=["microphone"])
    yield made
    made.close()


@pytest.fixture(scope="module")
def page(context: BrowserContext) -> Page:
    made = context.new_page()
    made.on("console", lambda message: print(f"browser console {message.type}: {message.text}"))
    made.goto("/console/login")
    made.get_by_label("API key").fill(DEV_DIALROOM_API_KEY)
    made.get_by_role("button", name="Log in").click()
    expect(made.get_by_role("heading", name="Calls")).to_be_visible()
    return made


def test_the_persona_greets_and_answers_a_browser_with_a_microphone(
    page: Page, api: httpx.Client, tmp_path: Path
) -> None:
    page.goto("/console/personas")
    page.locator("#valid tr", has_text="demo").get_by_role(
        "link", name="Talk to this persona"
    ).click()
    expect(page.get_by_role("heading", name="Talk to demo")).to_be_visible()
    page.evaluate(RECORD_REMOTE_AUDIO)
    page.get_by_role("button", name="Start the call").click()
    try:
        expect(page.locator("#talk-audio audio")).to_have_count(1, timeout=30_000)
    except AssertionError:
        print("talk status:", page.locator("#talk-status").text_content())
        raise
    # the demo persona confirms the day and hangs up, which ends the page's call
    expect(page.locator("#talk-status")).to_have_text(
        "The call has ended.", timeout=CALL_TIMEOUT_MS
    )
    page.wait_for_function("() => window.__heard !== null", timeout=10_000)
    heard_path = tmp_path / "heard.webm"
    heard_path.write_bytes(base64.b64decode(page.evaluate("window.__heard")))
    heard = transcribe_wav(heard_path).lower()
    assert "which day" in heard, f"no greeting in what the browser heard: {heard!r}"
    assert "tuesday" in heard, f"no reply naming Tuesday: {heard!r}"
    assert heard.index("which day") < heard.index("tuesday"), heard

    call_id = page.locator("#talk-record a").get_attribute("href").rsplit("/", 1)[1]  # type: ignore[union-attr]
    record = _archived(api, call_id)
    assert record["direction"] == "browser"
    assert record["caller_number"] is None and record["called_number"] is None
    assert record["persona"] == "demo" and record["outcome"] == "agent_hung_up"
    caller_lines = [
        line["text"].lower() for line in record["transcript"] if line["role"] == "caller"
    ]
    assert any("tuesday" in line for line in caller_lines), record["transcript"]


def test_the_api_gives_a_token_for_the_call_room_alone(
    api: httpx.Client, talk_stack: RunningStack
) -> None:
    assert api.post("/api/personas/nobody/talk").status_code == 404
    assert httpx.post(f"{talk_stack.state.api_url}/api/personas/demo/talk").status_code == 401
    answer = api.post("/api/personas/demo/talk")
    assert answer.status_code == 201, answer.text
    ticket = answer.json()
    assert ticket["url"] == talk_stack.state.livekit_url
    claims = livekit.TokenVerifier(DEV_API_KEY, DEV_API_SECRET).verify(ticket["token"])
    assert claims.identity == ticket["identity"]
    assert claims.video.room == ticket["room"] and claims.video.room_join
    assert not claims.video.room_admin and not claims.video.can_publish_data
    assert claims.video.can_publish_sources == ["microphone"]
    _end_room(talk_stack, ticket["room"])  # nobody joins: the waiting agent goes
    record = _archived(api, ticket["call_id"])
    assert (record["direction"], record["outcome"]) == ("browser", "not_joined")
    errors = [
        line
        for line in talk_stack.log("worker-1").splitlines()
        if ticket["call_id"] in line and '"level": "ERROR"' in line
    ]
    assert not errors, errors  # a room ended before the browser came is no fault


def test_a_console_post_without_the_csrf_token_is_refused(
    context: BrowserContext, page: Page, talk_stack: RunningStack
) -> None:
    talk = "/console/personas/demo/talk"
    assert context.request.post(talk, form={"csrf": "forged"}, max_redirects=0).status == 403
    page.goto(talk)
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = context.request.post(talk, form={"csrf": token}, max_redirects=0)
    assert answer.status == 201 and answer.json()["token"]
    _end_room(talk_stack, answer.json()["room"])


def test_the_start_button_waits_for_the_page_script(page: Page) -> None:
    """Clicked before talk.js has run (it is deferred, behind livekit-client's large bundle), the
    button would post the form itself and the page would show the ticket's JSON: it is disabled
    until the script is ready, and stays so when livekit-client is missing."""
    start = page.get_by_role("button", name="Start the call")
    for missing, status in [
        ("talk.js", "Not connected."),
        ("livekit-client.umd.js", "livekit-client did not load: reload the page."),
    ]:
        page.route(f"**/talk-assets/{missing}", lambda route: route.abort())
        try:
            page.goto("/console/personas/demo/talk")
            expect(page.locator("#talk-status")).to_have_text(status)
            expect(start).to_be_disabled()
        finally:
            page.unroute(f"**/talk-assets/{missing}")
    page.goto("/console/personas/demo/talk")
    expect(start).to_be_enabled()


def _archived(api: httpx.Client, call_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        answer = api.get(f"/api/calls/{call_id}")
        if answer.status_code == 200 and (record := answer.json().get("record")):
            return dict(record)
        assert time.monotonic() < deadline, f"call {call_id} never reached the history"
        time.sleep(0.25)


def _end_room(stack: RunningStack, room: str) -> None:
    """Once the persona's agent waits in a room nobody joins, delete the room (on a thread of
    its own: Playwright's sync API runs an event loop in this one)."""

    async def delete() -> None:
        async with livekit.LiveKitAPI(stack.state.livekit_url, DEV_API_KEY, DEV_API_SECRET) as lk:
            waiting = livekit.ListParticipantsRequest(room=room)
            deadline = time.monotonic() + 20
            while not (await lk.room.list_participants(waiting)).participants:
                assert time.monotonic() < deadline, f"no agent came to {room}"
                await asyncio.sleep(0.2)
            await lk.room.delete_room(livekit.DeleteRoomRequest(room=room))

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, delete()).result(timeout=30)
