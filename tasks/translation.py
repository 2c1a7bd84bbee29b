"""Translation behind one interface, whatever way the model is told its languages.

    generator = mmgen.load("/models/nllb-200-distilled-600M")
    out = translate(generator, ["Hello!", "", "How are you?"], source_lang="eng_Latn", target_lang="fra_Latn")
    [t.text for t in out]          # one per source, in order; "" for the empty line
    languages(generator)           # the codes this model knows

Each model family names languages its own way (`language_scheme` finds which):

- ``language_token``: M2M100, NLLB, mBART(-50): the source language is the tokenizer's
  ``src_lang`` (it writes the source's language token), the target is forced as the first
  generated token, per row (`mmgen.families.translation`, option ``tgt_lang``). Codes are the
  tokenizer's: ``"fra_Latn"`` (NLLB), ``"fr"`` (M2M100), ``"fr_XX"`` (mBART).
- ``target_token``: multilingual Marian (opus-mt-en-mul, ...): a ``>>fra<<`` token before the
  source picks the target; codes are the vocabulary's ``>>...<<`` tokens.
- ``prefix``: T5: ``"translate English to German: "``, the prefixes the checkpoint declares in
  ``config.task_specific_params`` (``translation_en_to_de``, ...), else built from language names
  (`LANGUAGE_NAMES`: a code ``"de"`` or a name ``"German"``).
- ``instruction``: decoder-only models are asked, through their chat template, else with a
  ``"English: ...\\nGerman:"`` completion prompt that stops at the end of the line.
- ``fixed``: any other sequence-to-sequence model translates one pair (opus-mt-en-de); the pair
  is read from an ``opus-mt-<src>-<tgt>`` name when it has one. Without one the model knows no
  codes: a ``target_lang`` cannot be honoured and is refused (the source language is not checked).

A code the model does not know raises an `mmgen.OptionError` listing the close valid ones
(`check_languages`, before any work).
Empty (or blank) sources are translated to ``""`` without a model call, so outputs stay aligned
line by line with the sources (`write_text`, ready for sacrebleu).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from mmgen.core.frames import FinishReason
from mmgen.core.options import OptionError
from mmgen.families.translation import Translation as TranslationFamily
from mmgen.families.translation import language_codes, language_ids
from mmgen.tasks.text_inputs import as_texts

# ISO 639-1 code -> English name, for the prompts of T5 and decoder-only models.
LANGUAGE_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech",
    "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek", "en": "English", "es": "Spanish",
    "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French", "ga": "Irish",
    "gl": "Galician", "gu": "Gujarati", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian",
    "hy": "Armenian", "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ka": "Georgian",
    "kk": "Kazakh", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian", "mk": "Macedonian", "ml": "Malayalam",
    "mr": "Marathi", "ms": "Malay", "mt": "Maltese", "nl": "Dutch", "no": "Norwegian", "pl": "Polish",
    "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sq": "Albanian",
    "sr": "Serbian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "te": "Telugu", "th": "Thai",
    "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "zh": "Chinese",
}
T5_TYPES = frozenset({"t5", "mt5", "umt5", "longt5"})
INSTRUCTION = "Translate the following {source} text into {target}. Reply with the translation only.\n\n{text}"
COMPLETION = "{source}: {text}\n{target}:"

_MARIAN_TARGET = re.compile(r"^>>(.+)<<$")
_OPUS_PAIR = re.compile(r"opus-mt-([A-Za-z_]+)-([A-Za-z_]+)$")
_T5_PAIR = re.compile(r"^translation_(.+)_to_(.+)$")


@dataclass(frozen=True)
class Translation:
    """source: the input text; text: its translation ("" for an empty source, which is not generated).

    finish_reason: None for an empty source. alternatives: the further returned sequences
    (``num_return_sequences`` > 1), best first after ``text``.
    """

    source: str
    text: str
    source_lang: str | None
    target_lang: str | None
    finish_reason: FinishReason | None
    alternatives: tuple[str, ...] = ()

    def record(self, index: int) -> dict[str, Any]:
        """The JSONL row: id, source, hypothesis, languages, finish reason."""
        return {"id": index, "source": self.source, "hypothesis": self.text, "source_lang": self.source_lang,
                "target_lang": self.target_lang,
                "finish_reason": self.finish_reason.value if self.finish_reason else None}


@dataclass(frozen=True)
class LanguageScheme:
    """How a model is told its languages (kinds in the module docstring).

    sources / targets: the codes it accepts (empty: not checked); prefixes: T5's declared
    ``(source, target) -> prefix``.
    """

    kind: str
    sources: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    prefixes: tuple[tuple[tuple[str, str], str], ...] = ()


# -- which scheme ----------------------------------------------------------------------------------

def _marian_targets(tokenizer: Any) -> tuple[str, ...]:
    vocab = tokenizer.get_vocab() if tokenizer is not None else {}
    return tuple(sorted(m.group(1) for token in vocab if (m := _MARIAN_TARGET.match(token))))


def language_scheme(generator: Any) -> LanguageScheme:
    """The `LanguageScheme` of the generator's model and tokenizer."""
    model, tokenizer = generator.model, generator.tokenizer
    config = model.config
    if not config.is_encoder_decoder:
        names = tuple(LANGUAGE_NAMES) + tuple(LANGUAGE_NAMES.values())
        return LanguageScheme("instruction", names, names)
    if TranslationFamily().matches(model):
        codes = tuple(language_codes(tokenizer)) if tokenizer is not None else ()
        if codes:
            return LanguageScheme("language_token", codes, codes)
    if config.model_type == "marian":
        targets = _marian_targets(tokenizer)
        if targets:
            return LanguageScheme("target_token", (), targets)
    if config.model_type in T5_TYPES:
        params = getattr(config, "task_specific_params", None) or {}
        declared = tuple(((m.group(1), m.group(2)), value.get("prefix", "")) for key, value in sorted(params.items())
                         if (m := _T5_PAIR.match(key)) and isinstance(value, dict))
        if declared:
            return LanguageScheme("prefix", tuple(sorted({s for (s, _), _ in declared})),
                                  tuple(sorted({t for (_, t), _ in declared})), declared)
        names = tuple(LANGUAGE_NAMES) + tuple(LANGUAGE_NAMES.values())
        return LanguageScheme("prefix", names, names)
    pair = _OPUS_PAIR.search(getattr(model, "name_or_path", "") or "")
    if pair:
        return LanguageScheme("fixed", (pair.group(1),), (pair.group(2),))
    return LanguageScheme("fixed")


def languages(generator: Any) -> list[str]:
    """The target-language codes the model knows (empty: a model with one fixed direction)."""
    return list(language_scheme(generator).targets)


# -- checking codes --------------------------------------------------------------------------------

def close_codes(code: str, codes: Sequence[str], n: int = 5) -> list[str]:
    """Valid codes close to ``code``: those it starts (``"fr"`` -> ``"fra_Latn"``), then similar spellings."""
    lower = code.lower().strip("_<>")
    by_lower = {c.lower(): c for c in codes}
    starts = [c for low, c in sorted(by_lower.items()) if low.strip("_<>").startswith(lower)]
    similar = [by_lower[c] for c in difflib.get_close_matches(code.lower(), list(by_lower), n=n, cutoff=0.5)]
    return list(dict.fromkeys(starts[:n] + similar))[:n]


def check_code(code: str, codes: Sequence[str], role: str) -> str:
    """``code`` if it is one of ``codes`` (compared case-sensitively first, then ignoring case), else an error."""
    if not codes or code in codes:
        return code
    by_lower = {c.lower(): c for c in codes}
    if code.lower() in by_lower and len(by_lower) == len(set(codes)):
        return by_lower[code.lower()]
    close = close_codes(code, codes)
    hint = (f"Close codes: {', '.join(repr(c) for c in close)}." if close
            else f"Valid codes include {', '.join(repr(c) for c in sorted(codes)[:8])}.")
    raise OptionError(f"{role}={code!r} is not a language this model knows. {hint} ({len(codes)} codes in all: "
                      "mmgen.tasks.translation.languages(generator).)")


def check_languages(generator: Any, source_lang: str | None = None,
                    target_lang: str | Sequence[str | None] | None = None,
                    ) -> tuple[str | None, list[str | None] | None]:
    """(source code, target codes) as the model spells them; an `OptionError` for a code it does not know.

    A model of one fixed pair with no codes to choose from (``fixed`` without a name) refuses a
    target: it would be ignored. target_lang: one code, or one per text (returned as given: a list or None).
    """
    scheme = language_scheme(generator)
    if source_lang is not None and not isinstance(source_lang, str):
        raise OptionError("source_lang is one code for the whole call: group the texts by source language.")
    if source_lang is not None:
        source_lang = check_code(source_lang, scheme.sources, "source_lang")
    targets = None if target_lang is None else [target_lang] if isinstance(target_lang, str) else list(target_lang)
    if targets is not None and scheme.kind == "fixed" and not scheme.targets and any(t is not None for t in targets):
        given = next(t for t in targets if t is not None)
        raise OptionError(f"target_lang={given!r} cannot be honoured: this model ({type(generator.model).__name__}) "
                          "translates one fixed language pair and knows no language codes. Leave target_lang unset "
                          "(-t) to translate as it was trained, or use a multilingual model (NLLB, M2M100, mBART-50) "
                          "for other targets.")
    if targets is not None:
        targets = [t if t is None else check_code(t, scheme.targets, "target_lang") for t in targets]
    return source_lang, targets


def _name(code: str) -> str:
    """A language's English name from a code or a name (``"de"``, ``"German"`` -> ``"German"``)."""
    return LANGUAGE_NAMES.get(code.lower(), code[:1].upper() + code[1:])


def _per_row(value: Any, rows: int, role: str) -> list[Any]:
    if value is None or isinstance(value, str):
        return [value] * rows
    values = list(value)
    if len(values) != rows:
        raise OptionError(f"{role} has {len(values)} languages for {rows} texts: pass one code, or one per text.")
    return values


# -- translating -----------------------------------------------------------------------------------

def _source_token_code(tokenizer: Any, code: str) -> str:
    """The form ``tokenizer.src_lang`` takes: M2M100 wants ``"fr"`` where ``"__fr__"`` is also a code."""
    table = getattr(tokenizer, "lang_code_to_id", None) or {}
    if table and code not in table and code.strip("_") in table:
        return code.strip("_")
    return code


def _language_token_call(generator: Any, scheme: LanguageScheme, texts: list[str], source: str | None,
                         targets: list[str | None], options: dict[str, Any]) -> tuple[list[Any], dict[str, Any], dict]:
    tokenizer, config = generator.tokenizer, generator.model.generation_config
    state = {}
    if source is not None and hasattr(tokenizer, "src_lang"):
        state["src_lang"] = _source_token_code(tokenizer, source)
    if all(t is None for t in targets):
        if config.forced_bos_token_id is None and "tgt_lang" not in generator.defaults:
            raise OptionError("This model translates into many languages: pass target_lang= (e.g. "
                              f"{', '.join(repr(c) for c in scheme.targets[:3])}).")
        return texts, options, state
    ids = language_ids(tokenizer, targets)
    if config.decoder_start_token_id is not None and all(i == config.decoder_start_token_id for i in ids):
        return texts, options, state  # mBART-en-ro style: the decoder already starts with the language
    extra = {"tgt_lang": ids}
    if config.forced_bos_token_id is not None:
        extra["forced_bos_token_id"] = None  # tgt_lang chooses the first token instead
    return texts, {**extra, **options}, state


def _prompts(generator: Any, scheme: LanguageScheme, texts: list[str], source: str | None,
             targets: list[str | None], options: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """The model inputs of the prefix, target-token, instruction and fixed schemes."""
    if scheme.kind == "fixed":
        return texts, options
    if scheme.kind == "target_token":
        if any(t is None for t in targets):
            raise OptionError("This Marian model translates into several languages: pass target_lang= "
                              f"(e.g. {', '.join(repr(c) for c in scheme.targets[:3])}).")
        return [f">>{t}<< {text}" for text, t in zip(texts, targets)], options
    if source is None or any(t is None for t in targets):
        raise OptionError(f"This model reads the languages from its prompt: pass source_lang= and target_lang= "
                          f"(e.g. {_name('en')!r} and {_name('de')!r}).")
    if scheme.kind == "prefix":
        declared = dict(scheme.prefixes)
        prefixes = [declared.get((source, t)) or f"translate {_name(source)} to {_name(t)}: " for t in targets]
        return [p + text for p, text in zip(prefixes, texts)], options
    tokenizer = generator.tokenizer
    if getattr(tokenizer, "chat_template", None) is not None:
        return [[{"role": "user", "content": INSTRUCTION.format(source=_name(source), target=_name(t), text=text)}]
                for text, t in zip(texts, targets)], options
    prompts = [COMPLETION.format(source=_name(source), target=_name(t), text=text) for text, t in zip(texts, targets)]
    return prompts, {"stop_strings": ["\n"], **options}


def translate(generator: Any, texts: str | Sequence[str], source_lang: str | None = None,
              target_lang: str | Sequence[str] | None = None, **options: Any) -> list[Translation]:
    """Translate each text; one `Translation` per text, in order.

    generator: an `mmgen.load(...)` Generator of a translation model (any scheme above).
    source_lang: the sources' language, a code the model knows (some models need none).
    target_lang: a code, or one per text.
    options: generation options (``num_beams=4``, ``max_new_tokens=...``); unset ones come from
      the model's ``generation_config``.
    Raises `mmgen.OptionError` for an unknown code or a missing language, `mmgen.InputError` for
    an item that is not a string, before any compute.
    """
    batch = as_texts(texts, "translate")
    scheme = language_scheme(generator)
    targets = _per_row(target_lang, len(batch), "target_lang")
    source_lang, checked = check_languages(generator, source_lang, targets)
    targets = checked if checked is not None else targets
    tokenizer = generator.tokenizer
    source_used = source_lang
    if source_used is None and scheme.kind == "language_token":
        source_used = getattr(tokenizer, "src_lang", None)  # the tokenizer's default source language
    todo = [i for i, text in enumerate(batch) if text.strip()]
    out = [Translation(text, "", source_used, targets[i], None) for i, text in enumerate(batch)]
    if not todo:
        return out
    rows, row_targets = [batch[i] for i in todo], [targets[i] for i in todo]
    state: dict[str, Any] = {}
    if scheme.kind == "language_token":
        inputs, call_options, state = _language_token_call(generator, scheme, rows, source_lang, row_targets, options)
    else:
        inputs, call_options = _prompts(generator, scheme, rows, source_lang, row_targets, options)
    saved = {name: getattr(tokenizer, name) for name in state}
    try:
        for name, value in state.items():
            setattr(tokenizer, name, value)
        results = generator.generate(inputs, **call_options)
    finally:
        for name, value in saved.items():
            setattr(tokenizer, name, value)
    texts_per_input: dict[int, list[Any]] = {}
    for result in results:
        texts_per_input.setdefault(result.input_index, []).append(result)
    for k, i in enumerate(todo):
        first, *rest = texts_per_input[k]
        out[i] = Translation(batch[i], first.text.strip(), source_used, targets[i], first.finish_reason,
                             tuple(r.text.strip() for r in rest))
    return out


# -- writing ---------------------------------------------------------------------------------------

def write_text(translations: Sequence[Translation | None], handle: IO[str]) -> None:
    """One line per source, in order: the translation, with its own line breaks turned to spaces so
    line n stays the translation of source line n (what sacrebleu reads). None (a failed input) and
    empty sources give an empty line."""
    for t in translations:
        text = "" if t is None else " ".join(t.text.splitlines())
        handle.write(text + "\n")


def records(translations: Sequence[Translation | None], sources: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """JSONL rows (`Translation.record`); a failed input (None) keeps its id and source with a null hypothesis."""
    rows = []
    for i, t in enumerate(translations):
        if t is None:
            rows.append({"id": i, "source": sources[i] if sources is not None else None, "hypothesis": None,
                         "source_lang": None, "target_lang": None, "finish_reason": None})
        else:
            rows.append(t.record(i))
    return rows


__all__ = ["COMPLETION", "INSTRUCTION", "LANGUAGE_NAMES", "LanguageScheme", "Translation", "check_code",
           "check_languages", "close_codes", "language_scheme", "languages", "records", "translate", "write_text"]
