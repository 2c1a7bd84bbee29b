"""The ``mmgen`` command line: one typer command per task, over `mmgen.tasks`.

``app.py`` holds the app and registers the commands; ``common.py`` the shared options, input
reading and the batch runner; one file per command (``caption.py``, ``translate.py``, ...).
Only this package prints or parses arguments.
"""
