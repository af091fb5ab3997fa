"""The log setup: aiormq's flood of lines for a closed channel is cut to one per second."""

from __future__ import annotations

import logging

from hub.logs import ClosedChannelFrames


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("aiormq.connection", logging.ERROR, __file__, 1, message, args, None)


def test_one_line_per_closed_channel_and_second() -> None:
    clock = Clock()
    frames = ClosedChannelFrames(interval=1.0, clock=clock)
    flood = [record(ClosedChannelFrames.MESSAGE, 2, f"<Basic.Deliver {i}>") for i in range(1500)]
    kept = [r for r in flood if frames.filter(r)]
    assert len(kept) == 1
    assert kept[0].getMessage() == (
        "Got frame for closed channel 2: '<Basic.Deliver 0>' "
        "(more frames for it within 1s are not logged)"
    )
    assert frames.filter(record(ClosedChannelFrames.MESSAGE, 3, "<Basic.Deliver>"))  # another
    assert frames.filter(record("Unexpected frame %r", "<frame>"))  # other errors all pass
    clock.now += 1.0
    assert frames.filter(record(ClosedChannelFrames.MESSAGE, 2, "<Basic.Deliver>"))  # later
    assert not frames.filter(record(ClosedChannelFrames.MESSAGE, 2, "<Basic.Deliver>"))


def test_setup_logging_filters_aiormq_once() -> None:
    from hub.logs import setup_logging

    logger, root = logging.getLogger("aiormq.connection"), logging.getLogger()
    saved = (list(logger.filters), list(root.handlers), root.level)
    levels = {n: logging.getLogger(n).level for n in ("aiormq", "aio_pika")}
    try:
        setup_logging("INFO")
        setup_logging("INFO")
        assert sum(isinstance(f, ClosedChannelFrames) for f in logger.filters) == 1
    finally:  # the test session's own logging as it was
        logger.filters[:], root.handlers[:] = saved[0], saved[1]
        root.setLevel(saved[2])
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
