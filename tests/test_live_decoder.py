"""The runner's decode seam over csx_core.wire, fed real captured frames."""

from __future__ import annotations

from pathlib import Path

import pytest

from csx_core.contracts import BookTop, Trade
from csx_live.app import MalformedFrameError, default_decoder

SAMPLES = {
    "usdm_combined_aggTrade_cryptofeed_2021.json": Trade,
    "usdm_combined_bookTicker_cryptofeed_2021.json": BookTop,
}


@pytest.mark.realdata
@pytest.mark.parametrize(("name", "kind"), sorted(SAMPLES.items()))
def test_real_frames_decode_to_events(realdata: Path, name: str, kind: type) -> None:
    frame = (realdata / "ws_samples" / name).read_bytes().strip()
    (event,) = default_decoder()(frame, 123)
    assert isinstance(event, kind)
    assert event.ts_recv == 123


@pytest.mark.parametrize(
    "frame",
    [b"{nope", b"[]", b'{"stream":"x@aggTrade","data":{"e":"aggTrade","s":"X"}}'],
)
def test_malformed_frames_raise_the_counted_error(frame: bytes) -> None:
    with pytest.raises(MalformedFrameError):
        default_decoder()(frame, 0)


def test_control_replies_yield_nothing() -> None:
    assert default_decoder()(b'{"result":null,"id":1}', 0) == ()
