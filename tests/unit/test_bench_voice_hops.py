"""`bench.voice_hops` puts each hop on the phone's clock: the fakes' own timestamps as they
are, the worker's stage times counted from where its audio reached the STT."""

from __future__ import annotations

import pytest

from bench.voice_hops import Fakes, turn_hops
from tests.support.azure_speech_fake import AzureSpeechFake
from tests.support.cloud_fakes import FakeCloud, RecordedRequest


def request(route: str, at: float) -> RecordedRequest:
    return RecordedRequest(route=route, path="/", query={}, headers={}, body=b"", at=at)


def test_hops_count_from_the_callers_last_voice() -> None:
    cloud, azure = FakeCloud(), AzureSpeechFake(phrase="Tuesday", final_after_s=1.0)
    azure.voice_ended_at = [90.0, 100.2]  # an earlier turn's, then this one's
    azure.finals_sent_at = [91.0, 101.2]
    cloud.requests = [request("tts", 95.0), request("chat", 100.7), request("tts", 101.0)]
    worker = {"end_of_turn_s": 0.4, "stt_s": 0.4, "llm_ttft_s": 0.31, "tts_ttfb_s": 0.3,
              "voice_to_voice_s": 1.1}  # fmt: skip
    hops = turn_hops(100.0, 1.5, worker, Fakes(cloud=cloud, azure=azure))
    expected = {
        "voice_at_worker": 0.2,
        "end_of_turn": 0.6,
        "transcript": 0.6,
        "llm_asked": 0.7,
        "llm_first_token": 1.01,
        "tts_asked": 1.0,
        "tts_first_audio": 1.3,
        "worker_audio_out": 1.3,
        "phone_audio": 1.5,
        "azure_final": 1.2,
    }
    assert hops == pytest.approx(expected)


def test_the_llm_hop_is_the_request_whose_reply_was_spoken() -> None:
    """A preflight on words that then changed asked the LLM first; the reply spoken is the
    last request before the TTS was asked."""
    cloud, azure = FakeCloud(), AzureSpeechFake(phrase="Tuesday", final_after_s=1.0)
    cloud.requests = [request("chat", 100.2), request("chat", 100.35), request("tts", 100.7),
                      request("chat", 103.0)]  # fmt: skip
    hops = turn_hops(100.0, 1.2, {"llm_ttft_s": 0.31}, Fakes(cloud=cloud, azure=azure))
    assert hops["llm_asked"] == pytest.approx(0.35)
    assert hops["llm_first_token"] == pytest.approx(0.66)


def test_a_record_with_the_workers_own_clock_places_its_stages_from_it() -> None:
    """`caller_stopped_at` / `agent_started_at` (wall clock) replace the STT-receipt anchor."""
    cloud, azure = FakeCloud(), AzureSpeechFake(phrase="Tuesday", final_after_s=1.0)
    azure.voice_ended_at = [100.2]
    worker = {"end_of_turn_s": 0.4, "stt_s": 0.35, "voice_to_voice_s": 1.1,
              "caller_stopped_at": 100.12, "agent_started_at": 101.25}  # fmt: skip
    hops = turn_hops(100.0, 1.5, worker, Fakes(cloud=cloud, azure=azure))
    assert hops["voice_at_worker"] == pytest.approx(0.2)
    assert hops["worker_end_of_speech"] == pytest.approx(0.12)
    assert hops["end_of_turn"] == pytest.approx(0.52)
    assert hops["transcript"] == pytest.approx(0.47)
    assert hops["worker_audio_out"] == pytest.approx(1.25)
