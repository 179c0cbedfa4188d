// "Talk to this persona": start a browser call, join its LiveKit room with the microphone,
// play the persona. livekit-client is the UMD build shipped in static/vendor (LivekitClient).
(function () {
  "use strict";
  const form = document.getElementById("talk-form");
  const stop = document.getElementById("talk-stop");
  const start = document.getElementById("talk-start");
  const statusLine = document.getElementById("talk-status");
  const record = document.getElementById("talk-record");
  const audioBox = document.getElementById("talk-audio");
  const LK = window.LivekitClient;
  let room = null;

  function say(text) {
    statusLine.textContent = text;
  }

  function idle() {
    start.hidden = false;
    start.disabled = false;
    stop.hidden = true;
    room = null;
  }

  async function ticket() {
    const response = await fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const why = (body.detail && body.detail[0] && body.detail[0].msg) || response.statusText;
      throw new Error(why);
    }
    return body;
  }

  function play(track, participant) {
    if (track.kind !== LK.Track.Kind.Audio) return;
    const element = track.attach();
    element.dataset.participant = participant.identity;
    audioBox.appendChild(element);
    say("Connected: the persona is speaking. Talk when it asks.");
  }

  function joined(call) {
    room = new LK.Room({ adaptiveStream: false, dynacast: false });
    room.on(LK.RoomEvent.TrackSubscribed, (track, _publication, participant) => play(track, participant));
    room.on(LK.RoomEvent.TrackUnsubscribed, (track) => track.detach().forEach((el) => el.remove()));
    room.on(LK.RoomEvent.Disconnected, () => {
      say("The call has ended.");
      record.querySelector("a").href = "/console/calls/" + encodeURIComponent(call.call_id);
      record.hidden = false;
      idle();
    });
    return room;
  }

  if (!LK) {
    say("livekit-client did not load: reload the page.");
    return; // the start button stays disabled
  }
  start.disabled = false; // the page is ready: its button is disabled until now

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    start.disabled = true;
    record.hidden = true;
    say("Starting the call…");
    try {
      const call = await ticket();
      const joinedRoom = joined(call);
      await joinedRoom.connect(call.url, call.token);
      say("Joined: waiting for the persona…");
      await joinedRoom.localParticipant.setMicrophoneEnabled(true);
      start.hidden = true;
      stop.hidden = false;
    } catch (err) {
      say("Could not start the call: " + err.message);
      if (room) await room.disconnect();
      idle();
    }
  });

  stop.addEventListener("click", async () => {
    if (room) await room.disconnect();
  });
})();
