"""`python -m pypush.server [options]`: the same as `pypush serve`."""
from __future__ import annotations

import argparse
import sys

from pypush.errors import PypushError
from pypush.process import exit_now
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
    exit_now(main())


if __name__ == "__main__":
    console()
