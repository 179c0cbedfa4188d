"""The PJSUA2 side of the phone; it runs only inside the process `phone.py` starts.

Single-threaded: PJSUA2 callbacks only note what happened, and the loop in `Phone.run` polls
events and performs the scripted actions (answer, play, DTMF, hang-up) when they fall due.
"""

from __future__ import annotations

import argparse
import signal
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pjsua2 as pj

from callcheck.listen import FarEnd, TurnTaker
from callcheck.phone_process import READY_MARK
from callcheck.phone_result import CallResult, Invite, PhoneResult, Play
from callcheck.stream_stats import receive_stats

HOST = "127.0.0.1"
CODECS = {"PCMU/8000/1": 255, "PCMA/8000/1": 254}  # every other codec is disabled
STATS_EVERY_S = 0.5  # how often a call's receive statistics are read (cheap)


@dataclass(frozen=True, kw_only=True)
class Script:
    """What the phone does on each call."""

    plays: list[tuple[Path, float]]  # (wav, seconds after media active)
    dtmf: list[tuple[str, float]]  # (digits, seconds after media active)
    record: Path | None
    hangup_after: float | None  # seconds after confirmed
    turns: list[Path] = field(default_factory=list)  # said by ear, one after each reply
    quiet_s: float = 1.2  # the far end is done once quiet this long
    reply_timeout_s: float = 15.0  # no reply this long after a line: say the next one
    end_grace_s: float = 5.0  # after the last reply, hang up this much later

    def recording_for(self, n: int) -> Path | None:
        """Call n (0-based) records to NAME.wav, NAME-2.wav, ..."""
        if self.record is None or n == 0:
            return self.record
        return self.record.with_stem(f"{self.record.stem}-{n + 1}")


@dataclass(frozen=True, kw_only=True)
class AnswerPolicy:
    code: int  # final response; 0 = keep ringing
    ring_s: float
    max_calls: int | None  # finish once this many calls have ended


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


class PhoneCall(pj.Call):
    def __init__(self, account: pj.Account, call_id: int, *, script: Script, n: int) -> None:
        super().__init__(account, call_id)
        self.outcome = CallResult(recording=script.recording_for(n))
        self.answer_at: tuple[float, int] | None = None  # (when, code), answer mode
        self._script = script
        self._plays = sorted(script.plays, key=lambda p: p[1])
        self._dtmf = sorted(script.dtmf, key=lambda d: d[1])
        self._audio: pj.AudioMedia | None = None
        self._audio_index = -1
        self._stats_at = 0.0
        self._players: list[pj.AudioMediaPlayer] = []
        self._recorder: pj.AudioMediaRecorder | None = None
        self._hung_up_here = False
        self.on_refer: Callable[[], PhoneCall] | None = None  # makes the call a REFER asks for
        self._ear: FarEnd | None = None
        self._turns = TurnTaker(
            lines=[wav_seconds(wav) for wav in script.turns],
            quiet_s=script.quiet_s,
            reply_timeout_s=script.reply_timeout_s,
            end_grace_s=script.end_grace_s,
        )

    @property
    def ended(self) -> bool:
        return self.outcome.disconnected_at is not None

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info, now, out = self.getInfo(), time.time(), self.outcome
        if info.state == pj.PJSIP_INV_STATE_EARLY and out.ringing_at is None:
            out.ringing_at = now
        elif info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            out.confirmed_at, out.connected = now, True
            out.status_code, out.reason = info.lastStatusCode, info.lastReason
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            out.disconnected_at = now
            out.remote_hangup = out.connected and not self._hung_up_here
            if not out.connected:  # after a BYE the last code describes the BYE, not the INVITE
                out.status_code, out.reason = info.lastStatusCode, info.lastReason
            self.release_media()

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        self.outcome.dtmf_received.append((prm.digit, time.time()))

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        """A REFER (cold transfer): accept it (202) and call the target, as a desk phone does."""
        self.outcome.transferred_to = prm.dstUri
        if self.on_refer is not None:
            prm.newCall = self.on_refer()

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        if self._audio is not None:
            return
        info = self.getInfo()  # keep it alive: `.media` points into it (SWIG)
        for media in info.media:
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self._audio = self.getAudioMedia(media.index)
                self._audio_index = media.index
                self._start_recording(self._audio)
                self.outcome.media_active_at = time.time()
                self._note_rtp_address(media.index)
                return

    def _note_rtp_address(self, index: int) -> None:
        try:
            self.outcome.rtp_local = self.getMedTransportInfo(index).localRtpName
        except pj.Error:
            pass  # only benches read it

    def _read_receive_stats(self) -> None:
        """Keep the stream's receive statistics (its jitter buffer's delay: the phone's own part
        of "heard at the phone"), read every STATS_EVERY_S and before we hang up."""
        if self._audio_index < 0:
            return
        try:
            self.outcome.receive_stats = receive_stats(self.getStreamStat(self._audio_index))
        except pj.Error:
            pass  # the stream is gone: keep the last read

    def _start_recording(self, audio: pj.AudioMedia) -> None:
        if self.outcome.recording is None:
            return
        self._recorder = pj.AudioMediaRecorder()
        self._recorder.createRecorder(str(self.outcome.recording))
        audio.startTransmit(self._recorder)  # only the far end's audio, never our own plays
        if self._script.turns:
            self._ear = FarEnd(self.outcome.recording)

    def release_media(self) -> None:
        # Destroying the recorder is what writes the final WAV header.
        self._recorder = None
        self._players.clear()
        self._audio = None
        self._audio_index = -1

    def tick(self, now: float) -> None:
        """Perform whatever the script says is due by `now`."""
        if self.answer_at is not None and now >= self.answer_at[0]:
            self.answer(_op(self.answer_at[1]))
            self.answer_at = None
        media_at = self.outcome.media_active_at
        if self._audio is not None and now >= self._stats_at + STATS_EVERY_S:
            self._stats_at = now
            self._read_receive_stats()
        if self._audio is not None and media_at is not None:
            while self._plays and now >= media_at + self._plays[0][1]:
                self._play(self._plays.pop(0)[0], now)
            while self._dtmf and now >= media_at + self._dtmf[0][1]:
                digits = self._dtmf.pop(0)[0]
                self.dialDtmf(digits)  # RFC 2833 by default
                self.outcome.dtmf_sent.append((digits, now))
            if self._ear is not None:
                self._take_turns(now - media_at, now)
        confirmed_at, hangup_after = self.outcome.confirmed_at, self._script.hangup_after
        if confirmed_at is not None and hangup_after is not None:
            if now >= confirmed_at + hangup_after:
                self.hang_up()

    def _take_turns(self, at: float, now: float) -> None:
        """Say the next line by ear, or hang up once the last one has been answered."""
        assert self._ear is not None
        self._ear.poll()
        if (line := self._turns.next_line(self._ear, at)) is not None:
            self._play(self._script.turns[line], now)
        elif self._turns.finished(self._ear, at):
            self.hang_up()

    def _play(self, wav: Path, now: float) -> None:
        assert self._audio is not None
        player = pj.AudioMediaPlayer()
        player.createPlayer(str(wav), pj.PJMEDIA_FILE_NO_LOOP)
        player.startTransmit(self._audio)
        self._players.append(player)
        self.outcome.plays.append(Play(file=wav, duration_s=wav_seconds(wav), started_at=now))

    def hang_up(self) -> None:
        if not self.ended and not self._hung_up_here:
            self._read_receive_stats()
            self._hung_up_here = True
            self.hangup(_op(0))


def _op(status_code: int) -> pj.CallOpParam:
    op = pj.CallOpParam(True)
    op.statusCode = status_code
    return op


class PhoneAccount(pj.Account):
    def __init__(self, on_incoming: Callable[[pj.OnIncomingCallParam], None]) -> None:
        super().__init__()
        self._on_incoming = on_incoming

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self._on_incoming(prm)


class Phone:
    """One SIP endpoint with one account; dials out, or answers by `policy` when given one."""

    def __init__(
        self,
        *,
        port: int,
        user: str,
        script: Script,
        policy: AnswerPolicy | None,
        verbose: bool,
        host: str = HOST,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.host = host  # SIP and RTP bind here; another loopback address tests allow-lists
        self.headers = headers or []  # extra headers on the INVITE we send
        self.script = script
        self.policy = policy
        self.calls: list[PhoneCall] = []
        self.invites: list[Invite] = []
        self.stopping = False
        self.ep = pj.Endpoint()
        self.port = self._start_endpoint(port, verbose=verbose)
        self.account = self._create_account(user)

    def _start_endpoint(self, port: int, *, verbose: bool) -> int:
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0  # we poll libHandleEvents ourselves
        cfg.uaConfig.mainThreadOnly = True
        cfg.logConfig.level = cfg.logConfig.consoleLevel = 4 if verbose else 1
        cfg.medConfig.clockRate = cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        self.ep.libCreate()
        self.ep.libInit(cfg)
        transport = pj.TransportConfig()
        transport.port, transport.boundAddress = port, self.host
        transport_id = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        for codec in self.ep.codecEnum2():
            self.ep.codecSetPriority(codec.codecId, CODECS.get(codec.codecId, 0))
        return int(self.ep.transportGetInfo(transport_id).localName.rsplit(":", 1)[1])

    def _create_account(self, user: str) -> PhoneAccount:
        cfg = pj.AccountConfig()
        cfg.idUri = f"sip:{user}@{self.host}:{self.port}"
        cfg.natConfig.iceEnabled = False
        cfg.natConfig.sipStunUse = cfg.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
        cfg.mediaConfig.transportConfig.boundAddress = self.host
        account = PhoneAccount(self._on_incoming)
        account.create(cfg)
        return account

    def _on_incoming(self, prm: pj.OnIncomingCallParam) -> None:
        call = PhoneCall(self.account, prm.callId, script=self.script, n=len(self.calls))
        self.calls.append(call)
        info, now = call.getInfo(), time.time()
        self.invites.append(
            Invite(
                request_uri=prm.rdata.wholeMsg.split(maxsplit=2)[1],  # "INVITE <uri> SIP/2.0"
                from_uri=info.remoteUri,
                to_uri=info.localUri,
                call_id=info.callIdString,
                source=prm.rdata.srcAddress,
                received_at=now,
            )
        )
        if self.policy is None:  # a dialling phone turns calls away
            call.answer(_op(486))
            return
        call.answer(_op(180))
        if self.policy.code:
            call.answer_at = (now + self.policy.ring_s, self.policy.code)

    def stop(self, *_: object) -> None:
        """SIGTERM handler: hang up and finish at the next poll."""
        self.stopping = True

    def _outgoing_call(self) -> PhoneCall:
        """A new call of ours, placed once this returns (by `dial`, or by PJSUA for a REFER,
        which takes it as `newCall`); the n-th records to the script's n-th recording."""
        call = PhoneCall(self.account, pj.PJSUA_INVALID_ID, script=self.script, n=len(self.calls))
        call.on_refer = self._outgoing_call
        call.outcome.invite_sent_at = time.time()
        self.calls.append(call)
        return call

    def dial(self, uri: str) -> None:
        """Place one more call."""
        call = self._outgoing_call()
        op = pj.CallOpParam(True)
        for name, value in self.headers:
            header = pj.SipHeader()
            header.hName, header.hValue = name, value
            op.txOption.headers.append(header)
        try:
            call.makeCall(uri, op)
        except pj.Error:
            self.calls.remove(call)  # no call exists to hang up or report on
            raise

    def finished(self) -> bool:
        ended = sum(call.ended for call in self.calls)
        if self.policy is None:
            return ended == len(self.calls)
        return self.policy.max_calls is not None and ended >= self.policy.max_calls

    def run(self, deadline: float) -> None:
        while not self.stopping and time.time() < deadline and not self.finished():
            self.ep.libHandleEvents(10)
            now = time.time()
            for call in self.calls:
                if not call.ended:
                    call.tick(now)
        self.hang_up_all(grace_s=2.0)

    def hang_up_all(self, *, grace_s: float) -> None:
        for call in self.calls:
            call.hang_up()
        give_up = time.time() + grace_s
        while time.time() < give_up and not all(call.ended for call in self.calls):
            self.ep.libHandleEvents(10)
        for call in self.calls:
            call.release_media()
        # PJSIP 2.15 removes conference ports asynchronously (on the clock thread): a recorder's
        # WAV header is written only once its port is gone, so wait for the bridge to empty.
        give_up = time.time() + 1.0
        while time.time() < give_up and self.ep.mediaActivePorts() > 1:  # 1: the null device
            self.ep.libHandleEvents(10)

    def result(self, error: str | None = None) -> PhoneResult:
        return PhoneResult(
            mode="dial" if self.policy is None else "answer",
            local_port=self.port,
            calls=[call.outcome for call in self.calls],
            invites=self.invites,
            error=error,
        )


def _phone_from_args(args: argparse.Namespace) -> Phone:
    script = Script(
        plays=args.play,
        dtmf=args.dtmf,
        record=args.record,
        hangup_after=args.hangup_after,
        turns=args.turn,
        quiet_s=args.quiet_s,
        reply_timeout_s=args.reply_timeout_s,
        end_grace_s=args.end_grace_s,
    )
    if args.mode == "dial":
        return Phone(
            port=args.port,
            user=args.from_user,
            script=script,
            policy=None,
            verbose=args.verbose,
            host=args.bind or HOST,
            headers=args.header,
        )
    policy = AnswerPolicy(code=args.code, ring_s=args.ring_s, max_calls=args.max_calls)
    return Phone(port=args.port, user="phone", script=script, policy=policy, verbose=args.verbose)


def run(args: argparse.Namespace) -> PhoneResult:
    """Run the phone the command line describes until it is done; return what happened."""
    deadline = time.time() + args.duration
    phone = _phone_from_args(args)
    signal.signal(signal.SIGTERM, phone.stop)
    print(f"{READY_MARK} {phone.port}", flush=True)
    try:
        if args.mode == "dial":
            for _ in range(args.calls):
                phone.dial(args.uri)
        phone.run(deadline)
    except pj.Error as e:
        phone.hang_up_all(grace_s=1.0)
        return phone.result(error=e.info())
    return phone.result()
