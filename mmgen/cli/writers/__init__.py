"""Where a command's results go: the job's records file, and the task's own formats made from the records.

Every command runs a job (`mmgen.jobs.run`) that commits records (``id``, the task's fields,
``error``) to a *journal* file as results complete. A `Writer` decides where that file is and
what is written from the records, as they come (`Writer.take`) and at the end (`Writer.finish`):

- `tables`: the records themselves (``.jsonl`` / ``.parquet``: the journal is the output, and
  ``--resume`` goes on with it), JSON Lines on stdout, and tables made at the end (``.csv``,
  ``.json``, an imagefolder ``metadata.*``);
- `text`: text aligned line by line with the inputs (to a file at the end, to stdout as the lines
  come, in input order), and text streamed as it is generated (``mmgen generate``);
- `subtitles`: a subtitle file per recording, written as each one completes;
- `audio`: the audio files `mmgen.jobs.SpeakJob` writes, named ahead;
- `live`: whisper's ``[00:00.000 --> 00:01.800]  text`` lines as segments are decoded.

Other formats keep their journal beside the output as a hidden working file
(``.<name>.records.jsonl``), removed once the output is written; stdout's lives in a temporary
folder. Every file is written under a temporary name and renamed into place.
"""
