"""``python -m pypush``: the command line."""
if __name__ == "__main__":
    from pypush.cli.main import run

    run()
