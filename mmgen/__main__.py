"""``python -m mmgen``: the ``mmgen`` command line."""

from mmgen.cli.app import main

if __name__ == "__main__":
    main()
