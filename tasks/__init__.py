"""Task adapters: thin, named layers over the decode core (installed as ``mmgen.tasks``).

Each takes a `mmgen.load(...)` Generator and returns typed results:

- `caption` (`Caption`), `write_captions`: image captioning, imagefolder metadata files;
- `translate` (`Translation`), `languages`, `write_text`: translation with any model family;
- `summarize` (`Summary`): summarization;
- `generate_text`, `chat`, `stream_text_completions`, `generate_text_many` (`Completion`): prompts and chat
  conversations, streamed or not, or through a continuously refilled batch;
- `transcribe`, `transcribe_many` (`Transcript`): speech recognition of audio of any length, with segments and
  word timestamps; `mmgen.tasks.speech_recognition.subtitles` writes txt, srt, vtt, tsv and json;
- `speak` (`Speech`): text to speech, long text split into sentences and joined.
"""

from mmgen.tasks.captioning import Caption, caption, write_captions
from mmgen.tasks.records import write_records
from mmgen.tasks.speech_recognition import Transcript, transcribe, transcribe_many
from mmgen.tasks.summarization import Summary, summarize
from mmgen.tasks.text_generation import Completion, chat, generate_text, generate_text_many, stream_text_completions
from mmgen.tasks.text_to_speech import Speech, speak
from mmgen.tasks.translation import Translation, languages, translate, write_text

__all__ = [
    "Caption",
    "Completion",
    "Speech",
    "Summary",
    "Transcript",
    "Translation",
    "caption",
    "chat",
    "generate_text",
    "generate_text_many",
    "languages",
    "speak",
    "stream_text_completions",
    "summarize",
    "transcribe",
    "transcribe_many",
    "translate",
    "write_captions",
    "write_records",
    "write_text",
]
