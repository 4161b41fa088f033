"""`python -m pypush.server [options]`: the same as `pypush serve`."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from pypush.errors import PypushError
from pypush.server.command import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m pypush.server", description=__doc__)
    add_arguments(parser)
    try:
        return run(parser.parse_args())
    except PypushError as e:
        print(f"pypush serve: {e}", file=sys.stderr)
        return e.exit_code


def console() -> None:
    """``main()``, then exit without the interpreter's teardown, as `pypush serve` does (freeing the
    loaded API models took 0.3-0.7 s after SIGTERM on a busy machine); the streams are flushed first."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        code = code or 1
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    console()
