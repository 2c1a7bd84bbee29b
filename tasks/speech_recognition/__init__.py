"""Speech recognition: audio of any length -> a `Transcript` with timed segments, words and subtitles.

- `transcribe` (`transcribe.py`): the task, dispatching on the model;
- `whisper`: Whisper's path: its features and language, long-form or windows, segments, words;
- `longform`: sequential long-form decoding (windows, seek, conditioning on previous text);
- `fallback`: one window decoded with temperature fallback and the silence check;
- `windows`: cutting windows, their decoder prompts, splitting tokens into timed segments;
- `features`, `prepared`: Whisper's features, and recordings prepared ahead of decoding (a job's
  background thread);
- `windowed`: overlapping windows merged on their common tokens (models without timestamps);
- `word_timestamps`: word times by cross-attention alignment (DTW);
- `subtitles`: txt, srt, vtt, tsv and json writers, as openai-whisper's command line writes them;
- `transcript`: the result types (`Transcript`, `Segment`, `Word`).
"""

from mmgen.tasks.speech_recognition.longform import LongFormResult, transcribe_long
from mmgen.tasks.speech_recognition.transcribe import OPENAI_WHISPER_DEFAULTS, transcribe, transcribe_many
from mmgen.tasks.speech_recognition.transcript import Segment, Transcript, Word, join_texts

__all__ = ["OPENAI_WHISPER_DEFAULTS", "LongFormResult", "Segment", "Transcript", "Word", "join_texts", "transcribe",
           "transcribe_long", "transcribe_many"]
