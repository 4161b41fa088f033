"""Two console scripts for the pypush build tests."""
import sys


def main_a() -> int:
    print("tool-a", sys.executable)
    return 0


def main_b() -> int:
    import six

    print("tool-b", six.__version__, sys.argv[1:])
    return 0
