"""An app whose dependency has no wheel on the index (docopt 0.6.2: an sdist only)."""


def main() -> int:
    import docopt

    print("docopt", docopt.__version__, docopt.__file__)
    return 0
