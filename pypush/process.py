"""Ending a console process: flush what it wrote, then exit without the interpreter's teardown (garbage
collection and module clean-up take tens to hundreds of milliseconds after the work is done)."""
from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    """Flush stdout and stderr and every log handler, then ``os._exit(code)`` (1 if ``code`` was 0 and the
    output could not be flushed: a closed pipe)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        code = code or 1
    logging.shutdown()
    os._exit(code)
