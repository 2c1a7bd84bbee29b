"""Task adapters: thin, named layers over the decode core (installed as ``mmgen.tasks``)."""
