"""The call console in a real browser (Debian's Chromium, driven by Playwright) against the
real stack, whose records come from a real SIP call: log in, find the inbound call by the last
digits of its number, hear its recording, read its transcript and latency waterfall, pause and
resume a campaign; a wrong key and a POST without the CSRF token are refused.

The tests share one stack, one call and one browser, and run in file order (the login of the
second test is the session of the others). Screenshots go to the run folder (`shots`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from callcheck.phone import dial
from dialroom.settings import DEV_DIALROOM_API_KEY
from stack.install_browser import browser_path
from tests.e2e.conftest import FIXTURES
from tests.support.history import sqlite_url
from tests.support.stack import RunningStack, start_stack

pytestmark = pytest.mark.e2e

CALLER = "+14155550188"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PHONE_WIDTH = {"width": 390, "height": 844}


class _Receiver(BaseHTTPRequestHandler):
    """WEBHOOK_URL: takes every call event with 200."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def webhook_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/events"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def console_stack(
    tmp_path_factory: pytest.TempPathFactory, webhook_url: str
) -> Iterator[RunningStack]:
    env = {
        "WEBHOOK_URL": webhook_url,
        "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",  # the receiver is on loopback
        "DATABASE_URL": sqlite_url(tmp_path_factory.mktemp("history")),
        "RECORDING_ENABLED": "1",
        "RECORDINGS_DIR": str(tmp_path_factory.mktemp("recordings")),
    }
    running = start_stack(tmp_path_factory.mktemp("stack"), num_agents=1, env=env)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(console_stack: RunningStack) -> Iterator[httpx.Client]:
    with console_stack.api_client() as client:
        yield client


@pytest.fixture(scope="module")
def inbound_call(
    console_stack: RunningStack, api: httpx.Client, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A caller says "Tuesday" to the demo persona, which answers and hangs up; the call as
    the history has it."""
    result = dial(
        console_stack.state.sip_uri,
        result_dir=tmp_path_factory.mktemp("phone"),
        from_user=CALLER,
        play=[(FIXTURES / "caller_tuesday.wav", 7.0)],  # after the greeting
        hangup_after=40,
        timeout=60,
    )
    assert result.call.status_code == 200 and result.call.connected
    deadline = time.monotonic() + 30
    while True:
        page = api.get("/api/calls", params={"number": CALLER}).json()
        if ended := [c for c in page["calls"] if c["outcome"] is not None]:
            detail: dict[str, Any] = api.get(f"/api/calls/{ended[0]['call_id']}").json()
            return detail
        assert time.monotonic() < deadline, "the call never reached the history"
        time.sleep(0.25)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-screenshots")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = browser_path()
    assert path.is_file(), f"{path} missing: run `python start.py install --test-tools`"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(path), headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def context(browser: Browser, console_stack: RunningStack) -> Iterator[BrowserContext]:
    made = browser.new_context(base_url=console_stack.state.api_url)
    yield made
    made.close()


@pytest.fixture(scope="module")
def page(context: BrowserContext) -> Page:
    return context.new_page()


def test_a_wrong_key_is_refused(browser: Browser, console_stack: RunningStack, shots: Path) -> None:
    stranger = browser.new_context(base_url=console_stack.state.api_url)
    try:
        page = stranger.new_page()
        page.goto("/console/calls")
        expect(page).to_have_url(f"{console_stack.state.api_url}/console/login")
        page.get_by_label("API key").fill("not-the-key-0123456789-abcdefghijkl")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#login-error")).to_contain_text("not recognised")
        page.screenshot(path=shots / "console-wrong-key.png")
        page.goto("/console/calls")
        expect(page).to_have_url(f"{console_stack.state.api_url}/console/login")
        assert not [c for c in stranger.cookies() if c["name"] == "dialroom_console"]
    finally:
        stranger.close()


def test_log_in_and_find_the_inbound_call_by_the_last_digits_of_its_number(
    page: Page, context: BrowserContext, inbound_call: dict[str, Any], shots: Path
) -> None:
    page.goto("/console/login")
    page.get_by_label("API key").fill(DEV_DIALROOM_API_KEY)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Calls")).to_be_visible()
    [cookie] = [c for c in context.cookies() if c["name"] == "dialroom_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert DEV_DIALROOM_API_KEY not in cookie["value"]

    page.get_by_label("Number or last digits").fill(CALLER[-4:])
    page.get_by_label("Direction").select_option("inbound")
    page.get_by_label("Recording").select_option("true")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(CALLER)
    page.screenshot(path=shots / "console-calls.png", full_page=True)
    rows.first.get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text(inbound_call["call_id"])
    assert DEV_DIALROOM_API_KEY not in page.content()


def test_the_transcript_and_the_latency_waterfall_show(
    page: Page, inbound_call: dict[str, Any], shots: Path
) -> None:
    page.goto(f"/console/calls/{inbound_call['call_id']}")
    caller_lines = page.locator("#transcript li.caller")
    expect(caller_lines.filter(has_text="uesday")).not_to_have_count(0)
    expect(page.locator("#transcript li.agent").first).to_contain_text("+")
    turns = inbound_call["record"]["turns"]
    assert turns, "the call should have a measured reply"
    waterfall = page.locator("#waterfall .turn")
    expect(waterfall).to_have_count(len(turns))
    v2v = waterfall.last.locator(".bar.voice_to_voice")
    expect(v2v).to_be_visible()
    assert v2v.bounding_box()["width"] > 20  # type: ignore[index]
    page.screenshot(path=shots / "console-call.png", full_page=True)
    page.set_viewport_size(PHONE_WIDTH)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the call page is {overflow}px wider than a phone"
    page.screenshot(path=shots / "console-call-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_the_webhook_deliveries_of_the_call_show(page: Page, inbound_call: dict[str, Any]) -> None:
    deliveries = page.locator("#webhooks")
    deadline = time.monotonic() + 30
    while True:
        page.goto(f"/console/calls/{inbound_call['call_id']}")
        shown = deliveries.inner_text() if deliveries.count() else ""
        if "call.started: done" in shown and "call.ended: done" in shown:
            return
        assert time.monotonic() < deadline, f"deliveries not shown as done: {shown!r}"
        time.sleep(1)


def test_the_recording_plays_for_the_length_of_the_call(
    page: Page, inbound_call: dict[str, Any]
) -> None:
    recording = inbound_call["record"].get("recording")
    assert recording, f"the call has no recording: {inbound_call['record'].keys()}"
    page.goto(f"/console/calls/{inbound_call['call_id']}")
    audio = page.locator("audio#recording")
    expect(audio).to_have_count(1)
    page.wait_for_function(
        "el => el.readyState >= 1 && isFinite(el.duration)", arg=audio.element_handle()
    )
    duration = audio.evaluate("el => el.duration")
    call_s = inbound_call["record"]["ended_at"] - inbound_call["record"]["started_at"]
    assert abs(duration - recording["duration_s"]) < 0.5, (duration, recording)
    assert abs(duration - call_s) < 3.0, (duration, call_s)


def test_the_live_personas_and_latency_pages_show_the_stack(
    page: Page, inbound_call: dict[str, Any], shots: Path
) -> None:
    page.goto("/console/live")
    expect(page.locator("#talking")).to_be_visible()
    with page.expect_response(lambda r: r.url.endswith("/console/live/rows")) as refresh:
        pass  # htmx asks for the rows again every few seconds
    assert refresh.value.status == 200
    page.goto("/console/personas")
    expect(page.locator("#valid tbody")).to_contain_text("demo")
    assert DEV_DIALROOM_API_KEY not in page.content()
    page.goto("/console/latency")
    chart = page.locator("#latency-chart")
    expect(chart.locator("polyline")).to_have_count(2)  # the demo persona's p50 and p95
    expect(page.locator("table tbody tr").first).to_contain_text("demo")
    trunks = page.locator("table", has=page.locator("caption", has_text="Per SIP trunk"))
    expect(trunks.locator("tbody tr").first).to_contain_text("ST_")  # livekit-sip's trunk id
    page.screenshot(path=shots / "console-latency.png", full_page=True)


def test_pause_and_resume_a_campaign_from_the_keyboard(
    page: Page, api: httpx.Client, shots: Path
) -> None:
    campaign_id = _held_campaign(api)
    page.goto("/console/campaigns")
    row = page.locator(f"#campaign-{campaign_id}")
    expect(row.locator(".state")).to_have_text("running")
    _press(page, row.get_by_role("button", name="Pause"))
    expect(page.get_by_role("status")).to_have_text("Campaign paused.")
    expect(row.locator(".state")).to_have_text("paused")
    assert api.get(f"/api/campaigns/{campaign_id}").json()["state"] == "paused"
    page.screenshot(path=shots / "console-campaigns.png", full_page=True)
    _press(page, row.get_by_role("button", name="Resume"))
    expect(row.locator(".state")).to_have_text("running")
    assert api.get(f"/api/campaigns/{campaign_id}").json()["state"] == "running"
    row.get_by_role("button", name="Cancel").click()
    expect(row.locator(".state")).to_have_text("canceled")


def test_a_post_without_the_csrf_token_is_refused(
    page: Page, context: BrowserContext, api: httpx.Client
) -> None:
    campaign_id = _held_campaign(api)
    page.goto("/console/campaigns")  # signed in: the session cookie goes with every request
    pause = f"/console/campaigns/{campaign_id}/pause"
    assert context.request.post(pause, form={"x": "1"}, max_redirects=0).status == 403
    assert context.request.post(pause, form={"csrf": "forged"}, max_redirects=0).status == 403
    assert api.get(f"/api/campaigns/{campaign_id}").json()["state"] == "running"
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    assert context.request.post(pause, form={"csrf": token}, max_redirects=0).status == 303
    assert api.get(f"/api/campaigns/{campaign_id}").json()["state"] == "paused"


def _held_campaign(api: httpx.Client) -> str:
    """A running campaign whose calling hours exclude today everywhere: nothing is dialed."""
    away = DAYS[(dt.datetime.now(dt.UTC).weekday() + 3) % 7]
    body = {
        "persona": "demo",
        "name": "console test",
        "calling_hours": {"days": [away], "start": "09:00", "end": "17:00"},
        "callees": [{"to_number": "+14155550123"}, {"to_number": "+14155550124"}],
    }
    created = api.post("/api/campaigns", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["campaign_id"])


def _press(page: Page, button: Any) -> None:
    """Reach `button` with Tab alone, then press Enter: every control works from the keyboard."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    for _ in range(60):
        page.keyboard.press("Tab")
        if button.evaluate("el => el === document.activeElement"):
            page.keyboard.press("Enter")
            return
    raise AssertionError("the button cannot be reached with Tab")
