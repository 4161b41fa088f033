import platform
import sys


def main() -> int:
    import markupsafe
    from markupsafe import _speedups  # the C extension: an ImportError when the platform's .so is wrong

    import six

    print(f"hello {platform.machine()} markupsafe={markupsafe.__version__} speedups={_speedups.__file__} "
          f"six={six.__version__} escape={markupsafe.escape('<b>')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
