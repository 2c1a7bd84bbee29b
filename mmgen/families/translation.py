"""Multilingual translation models whose first generated token names the target language.

M2M100 and NLLB (``M2M100ForConditionalGeneration``; NLLB is the same architecture with
``NllbTokenizer`` codes such as ``"fra_Latn"``), NLLB-MoE, mBART-50 and multilingual
Speech2Text: transformers forces the language token at decoder position 1 with
``forced_bos_token_id`` (``ForcedBOSTokenLogitsProcessor``), one language per call. Here the
family option ``tgt_lang`` does the same, with a different language per input row if wanted:

    mmgen.generate(model, tokenizer=tok, input_ids=..., tgt_lang=["fra_Latn", "deu_Latn"])

``tgt_lang`` is a code or a token id, or a list of them with one per input (``None`` leaves a
row free). Codes are resolved by `language_ids` through the tokenizer's public maps: its
``lang_code_to_id`` (M2M100, mBART-50, Speech2Text: ``"fr"``, ``"fr_XX"``) and its language
tokens (NLLB's ``"fra_Latn"``, M2M100's ``"__fr__"``). Each row then equals ``model.generate``
on that row's inputs with ``forced_bos_token_id`` = its language's id. Without ``tgt_lang``
the family is the generic encoder-decoder one.
"""

from __future__ import annotations

import difflib
from typing import Any

import torch

from mmgen.core.decode import Processor
from mmgen.core.options import GenerationOptions, OptionError
from mmgen.families.encoder_decoder import EncoderDecoder
from mmgen.families.prepared import Prepared

# Model types whose checkpoints choose the target language with a forced first token.
MODEL_TYPES = frozenset({"m2m_100", "nllb_moe", "mbart", "speech_to_text"})

NEG_INF = -float("inf")
FREE = -1  # a row without a forced token


# -- language codes -> token ids --------------------------------------------------------------------

def language_codes(tokenizer: Any) -> dict[str, int]:
    """Every target-language code the tokenizer knows -> its token id (empty if it has none)."""
    codes: dict[str, int] = {}
    # "fr" -> id (M2M100, mBART, Speech2Text); "__fr__" -> id (M2M100's language tokens).
    for table in ("lang_code_to_id", "lang_token_to_id"):
        for code, token_id in (getattr(tokenizer, table, None) or {}).items():
            codes[str(code)] = int(token_id)
    specials = set(getattr(tokenizer, "all_special_tokens", ()))
    common = {getattr(tokenizer, f"{name}_token", None) for name in ("bos", "eos", "unk", "pad", "sep", "cls", "mask")}
    # Language tokens are the extra special tokens (NLLB: "fra_Latn"; M2M100: "__fr__").
    for token in sorted(specials - common - {None}):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
            codes.setdefault(token, token_id)
    return codes


def _unknown_code(code: str, codes: dict[str, int]) -> OptionError:
    if not codes:
        return OptionError(f"tgt_lang={code!r}: this tokenizer has no language codes, so the model is not a "
                           "multilingual one. Pass a token id, or leave tgt_lang out.")
    by_lower = {c.lower(): c for c in codes}
    close = difflib.get_close_matches(code.lower(), list(by_lower), n=5, cutoff=0.5)
    hint = (f" Close codes: {', '.join(repr(by_lower[c]) for c in close)}." if close
            else f" Valid codes include {', '.join(repr(c) for c in sorted(codes)[:8])}.")
    return OptionError(f"tgt_lang={code!r} is not a language code of this tokenizer.{hint} "
                       f"({len(codes)} codes in all: see mmgen.families.translation.language_codes(tokenizer).)")


def language_id(tokenizer: Any, code: str | int | None, codes: dict[str, int] | None = None) -> int | None:
    """The token id of one target language: a code, an id (kept), or None (kept)."""
    if code is None or isinstance(code, int):
        return code
    if not isinstance(code, str):
        raise OptionError(f"tgt_lang={code!r} must be a language code (str), a token id (int), or a list of them.")
    codes = language_codes(tokenizer) if codes is None else codes
    if code not in codes:
        raise _unknown_code(code, codes)
    return codes[code]


def language_ids(tokenizer: Any, tgt_lang: Any) -> int | list[int | None] | None:
    """``tgt_lang`` with every code replaced by its token id (same shape: one value or a list)."""
    if isinstance(tgt_lang, (str, int)) or tgt_lang is None:
        return language_id(tokenizer, tgt_lang)
    codes = language_codes(tokenizer)
    return [language_id(tokenizer, code, codes) for code in tgt_lang]


def _per_row(tgt_lang: Any, inputs: int) -> list[int]:
    """One token id (or FREE) per input row; codes must have been resolved already."""
    values = [tgt_lang] * inputs if isinstance(tgt_lang, (str, int)) else list(tgt_lang)
    if len(values) != inputs:
        raise OptionError(f"tgt_lang has {len(values)} languages for {inputs} inputs: pass one code, or one per input.")
    for value in values:
        if isinstance(value, str):
            raise OptionError(f"tgt_lang={value!r} is a language code, and reading codes needs the tokenizer: call "
                              "through mmgen.load(...), or pass the token id: tokenizer.convert_tokens_to_ids(code) "
                              "(M2M100: tokenizer.get_lang_id(code)).")
        if value is not None and (not isinstance(value, int) or value < 0):
            raise OptionError(f"tgt_lang={value!r} is not a token id: pass a language code or a non-negative id.")
    return [FREE if v is None else v for v in values]


# -- the processor ----------------------------------------------------------------------------------

def make_forced_first_tokens(token_ids: torch.Tensor) -> Processor:
    """``ForcedBOSTokenLogitsProcessor`` with one id per row: at decoder length 1, row r can only
    produce ``token_ids[r]`` (score 0, every other token -inf); rows holding `FREE` are left as
    they are. token_ids: (rows,) long, rows in the order of the decode rows (input-major).
    """
    forced_rows = (token_ids != FREE)[:, None]
    index = token_ids.clamp(min=0)[:, None]

    def forced_first_tokens(tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if tokens.shape[-1] != 1:
            return scores
        forced = torch.full_like(scores, NEG_INF).scatter_(1, index.to(scores.device), 0.0)
        return torch.where(forced_rows.to(scores.device), forced, scores)

    return forced_first_tokens


class Translation(EncoderDecoder):
    """Encoder-decoder models told their target language by a forced first token (``tgt_lang``)."""

    name = "translation"
    options = frozenset({"tgt_lang"})

    def matches(self, model: torch.nn.Module) -> bool:
        return model.config.model_type in MODEL_TYPES and super().matches(model)

    def resolve_options(self, tokenizer: Any, family_options: dict[str, Any]) -> dict[str, Any]:
        """Language codes resolved through ``tokenizer`` (without one, left as given)."""
        if tokenizer is None or family_options.get("tgt_lang") is None:
            return family_options
        return {**family_options, "tgt_lang": language_ids(tokenizer, family_options["tgt_lang"])}

    def prepare(self, model: torch.nn.Module, model_inputs: dict[str, Any], options: GenerationOptions,
                family_options: dict[str, Any], per_input: int) -> Prepared:
        prepared = super().prepare(model, model_inputs, options, {}, per_input)
        tgt_lang = family_options.get("tgt_lang")
        if tgt_lang is None:
            return prepared
        ids = _per_row(tgt_lang, prepared.inputs)
        forced = options.forced_bos_token_id
        if forced is not None and any(i not in (forced, FREE) for i in ids):
            raise OptionError(
                f"tgt_lang and forced_bos_token_id={forced} both choose the first token. Pass only tgt_lang; if "
                "forced_bos_token_id comes from the model's generation_config, switch it off with "
                "forced_bos_token_id=None.")
        vocab = model.config.get_text_config(decoder=True).vocab_size
        too_large = [i for i in ids if i >= vocab]
        if too_large:
            raise OptionError(f"tgt_lang resolves to token id {too_large[0]}, past the model's vocabulary ({vocab}): "
                              "check the tokenizer belongs to this model.")
        token_ids = torch.tensor(ids, dtype=torch.long, device=model.device).repeat_interleave(per_input)
        prepared.processors.insert(0, make_forced_first_tokens(token_ids))
        return prepared


__all__ = ["MODEL_TYPES", "Translation", "language_codes", "language_id", "language_ids", "make_forced_first_tokens"]
