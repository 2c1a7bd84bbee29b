"""The ``mmgen`` command line: one typer command per task, each a job of `mmgen.jobs` over `mmgen.tasks`.

- ``app.py``: the app, the commands registered with their option groups; ``help.py``: plain help
  that fits 80 columns, options in sections, examples that paste;
- one module per command: ``transcribe.py``, ``speak.py``, ``caption.py``, ``translate.py``,
  ``summarize.py``, ``generate.py`` (and ``chat.py``, ``generate --chat``'s conversation);
- what they share: ``options.py`` (typer aliases; generation, model and job options),
  ``inputs.py`` (the job's sources, ids as typed, their order), ``outputs.py`` (``--output`` and
  ``--format``, the place checked before any work), ``loading.py`` (the model, checked against
  the command by ``model_kinds.py``), ``command_job.py`` (the output checked, the model loaded,
  the job run: the setup caption, generate, summarize and translate share), ``running.py`` (the
  job, its writer, the summary), ``report.py`` (what goes to stderr), ``writers/`` (records,
  text, tables, subtitles, audio, live lines).
Only this package prints or parses arguments.
"""
