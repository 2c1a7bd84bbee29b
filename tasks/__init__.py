"""Task adapters: thin, named layers over the decode core (installed as ``mmgen.tasks``).

Each takes a `mmgen.load(...)` Generator and returns typed results:

- `caption` (`Caption`), `write_captions`: image captioning, imagefolder metadata files;
- `translate` (`Translation`), `languages`, `write_text`: translation with any model family;
- `summarize` (`Summary`): summarization;
- `generate_text`, `chat` (`Completion`): prompts and chat conversations.
"""

from mmgen.tasks.captioning import Caption, caption, write_captions
from mmgen.tasks.records import write_records
from mmgen.tasks.summarization import Summary, summarize
from mmgen.tasks.text_generation import Completion, chat, generate_text
from mmgen.tasks.translation import Translation, languages, translate, write_text

__all__ = [
    "Caption",
    "Completion",
    "Summary",
    "Translation",
    "caption",
    "chat",
    "generate_text",
    "languages",
    "summarize",
    "translate",
    "write_captions",
    "write_records",
    "write_text",
]
