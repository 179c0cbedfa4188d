"""Small stereo Ogg/Opus files made on the spot, as the worker's recorder writes them."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

RATE = 48000


def write_stereo_ogg(path: Path, *, seconds: float, left_hz: float = 440.0) -> Path:
    """A tone on the left channel, silence on the right, encoded with libopus."""
    t = np.arange(int(seconds * RATE)) / RATE
    block = np.stack([0.3 * np.sin(2 * np.pi * left_hz * t), np.zeros_like(t)]).astype(np.float32)
    with av.open(str(path), mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=RATE, layout="stereo")
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path
