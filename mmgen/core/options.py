"""One frozen, validated options object for a generation call.

Precedence follows transformers: a value the user passes wins, then the model's
``generation_config`` (its ``generation_config.json``), then the defaults below, which are
transformers' global defaults except for the length (see ``DEFAULT_MAX_NEW_TOKENS``).
Every check runs before any compute, and each error names the option and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("mmgen")

MAX_AUTOTUNE = "max-autotune"  # compile=MAX_AUTOTUNE: frozen weights, autotuned products (mmgen.core.compiled)

# When neither the user nor the model sets a length, transformers stops at 20 *total* tokens,
# which silently truncates most outputs. mmgen generates up to this many *new* tokens instead.
DEFAULT_MAX_NEW_TOKENS = 256

# Sizes no call can use, whatever the model: checked before any compute, so `--max-new-tokens
# 1000000000` is an option error and not an allocator error blamed on the prompt. The model's
# own limits (its positions, its vocabulary) come on top, where the model is known.
MAX_LENGTH_LIMIT = 1 << 24  # tokens: longer than any model's context (the longest hold ~10M positions)
MAX_ROWS_PER_INPUT = 4096  # beams or returned sequences per input: each is a full row of the model's batch
# Row seeds are mixed as seed * SEED_MULTIPLIER + row offset in int64 (`mmgen.core.selectors.row_seeds`).
SEED_MULTIPLIER = 1_000_003
INT64_MAX = (1 << 63) - 1
TOKEN_BYTES = 8  # the token buffer holds int64 ids (grown as rows lengthen, up to the maximum length)


class OptionError(ValueError):
    """A generation option has an invalid value or name; the message says which and how to fix it."""


@dataclass(frozen=True)
class GenerationOptions:
    """Every option of a generation call, after defaults are applied (names as in transformers)."""

    # Length and stopping.
    max_new_tokens: int | None = None
    max_length: int | None = None
    min_length: int = 0
    min_new_tokens: int | None = None
    max_time: float | None = None
    stop_strings: tuple[str, ...] | None = None
    # Special tokens.
    eos_token_id: tuple[int, ...] | None = None
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    decoder_start_token_id: int | Sequence[int] | None = None
    # Strategy.
    do_sample: bool = False
    num_beams: int = 1
    num_return_sequences: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    seed: int | Sequence[int] | None = None
    # mmgen: rows that finish leave the model's batch, so a straggler does not keep finished
    # rows computing (same tokens either way). Beam search does not compact.
    compact: bool = True
    # mmgen's speed options, the same tokens either way. cache: "dynamic" (grows by a column per
    # step) or "static" (preallocated to the call's length, written in place, so the step keeps
    # its shapes). compile: the decode step compiled with torch.compile (with a static cache;
    # CUDA graphs on a GPU); "max-autotune": on the CPU, also frozen weights and autotuned matrix
    # products (faster, compiles longer, weights held twice; mmgen.core.compiled says what it
    # costs); transformers' cache_implementation="static" is the same as cache.
    cache: str = "dynamic"
    compile: bool | str = False
    # Speculative decoding (greedy, any batch size, the same tokens as plain greedy): a draft model
    # with the target's tokenizer guesses up to num_assistant_tokens ahead (stopping early once every
    # row's guess is less likely than assistant_confidence_threshold; schedule "heuristic": +2
    # after a round whose guesses were all kept, -1 otherwise), or prompt lookup guesses the
    # continuation of each row's last n-gram (at most max_matching_ngram_size) from its own text.
    assistant_model: Any = field(default=None, compare=False)
    num_assistant_tokens: int = 20
    num_assistant_tokens_schedule: str = "constant"
    assistant_confidence_threshold: float = 0.4
    prompt_lookup_num_tokens: int | None = None
    max_matching_ngram_size: int = 2
    # Sampling warpers.
    temperature: float = 1.0
    top_k: int | None = 50
    top_p: float = 1.0
    min_p: float | None = None
    typical_p: float = 1.0
    epsilon_cutoff: float = 0.0
    eta_cutoff: float = 0.0
    # Logits processors.
    repetition_penalty: float = 1.0
    encoder_repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    encoder_no_repeat_ngram_size: int = 0
    bad_words_ids: tuple[tuple[int, ...], ...] | None = None
    sequence_bias: tuple[tuple[tuple[int, ...], float], ...] | None = None
    suppress_tokens: tuple[int, ...] | None = None
    begin_suppress_tokens: tuple[int, ...] | None = None
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | tuple[int, ...] | None = None
    exponential_decay_length_penalty: tuple[int, float] | None = None
    remove_invalid_values: bool = False
    renormalize_logits: bool = False
    # User callables ``(tokens, scores) -> scores``, run after the built-in processors and
    # before the sampling warpers (the order transformers uses for its ``logits_processor``).
    logits_processor: tuple[Callable, ...] = field(default=(), compare=False)

    @property
    def is_beam_search(self) -> bool:
        return self.num_beams > 1

    @property
    def static_cache(self) -> bool:
        """Whether the call decodes over a static cache: asked for, or needed by ``compile``."""
        return self.cache == "static" or bool(self.compile)

    @property
    def speculative(self) -> bool:
        """Whether a draft model or prompt lookup guesses tokens ahead (speculative decoding)."""
        return self.assistant_model is not None or self.prompt_lookup_num_tokens is not None

    @property
    def rows_per_input(self) -> int:
        """How many rows each input row becomes: beams, or independent returned sequences."""
        return max(self.num_beams, self.num_return_sequences)


OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(GenerationOptions))

# Options transformers accepts that mmgen answers itself: output flags (a `Generation` always
# carries scores), ``use_cache=True`` (mmgen always decodes with a KV cache; ``use_cache=False``
# is refused by `resolve_options`) and ``cache_implementation`` (read as ``cache``).
ACCEPTED_AND_IGNORED = frozenset(
    {"return_dict_in_generate", "output_scores", "output_logits", "cache_implementation", "generation_config",
     "use_cache"}
)
CACHE_KINDS = ("dynamic", "static")


# The value of each non-optional option that makes it do nothing.
NEUTRAL: dict[str, Any] = {
    "min_length": 0, "do_sample": False, "num_beams": 1, "num_return_sequences": 1, "length_penalty": 1.0,
    "early_stopping": False, "compact": True, "cache": "dynamic", "compile": False, "temperature": 1.0, "top_p": 1.0,
    "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "encoder_no_repeat_ngram_size": 0,
    "remove_invalid_values": False, "renormalize_logits": False, "logits_processor": (),
    "num_assistant_tokens": 20, "num_assistant_tokens_schedule": "constant", "assistant_confidence_threshold": 0.0,
    "max_matching_ngram_size": 2,
}
SPECULATIVE_SCHEDULES = ("constant", "heuristic", "heuristic_transient")


def _as_tuple(value: Any) -> Any:
    if value is None or isinstance(value, tuple):
        return value
    if isinstance(value, (list, range)):
        return tuple(_as_tuple(v) for v in value)
    return value


def _normalise(name: str, value: Any) -> Any:
    """Bring list-valued options to hashable tuples, single ids to 1-tuples where a list is meant."""
    if value is None:
        return None
    if name == "eos_token_id":
        return (int(value),) if isinstance(value, int) else tuple(int(v) for v in value)
    if name in {"suppress_tokens", "begin_suppress_tokens"}:
        return tuple(int(v) for v in value)
    if name == "stop_strings":
        return (value,) if isinstance(value, str) else tuple(value)
    if name == "sequence_bias":
        items = value.items() if isinstance(value, dict) else value
        return tuple((tuple(k) if not isinstance(k, int) else (k,), float(v)) for k, v in items)
    if name == "forced_eos_token_id" and not isinstance(value, int):
        return tuple(int(v) for v in value)
    if name == "logits_processor":
        return tuple(value) if not callable(value) else (value,)
    return _as_tuple(value)


# The type each option must have when the user passes it (None is always accepted: it switches
# an option off). Checked before normalising, so "4" is not read as token 4 and "42" as (4, 2).
_INT_OPTIONS = frozenset({"max_new_tokens", "max_length", "min_length", "min_new_tokens", "num_beams",
                          "num_return_sequences", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "top_k",
                          "pad_token_id", "bos_token_id", "forced_bos_token_id", "num_assistant_tokens",
                          "prompt_lookup_num_tokens", "max_matching_ngram_size"})
_NUMBER_OPTIONS = frozenset({"max_time", "length_penalty", "temperature", "top_p", "min_p", "typical_p",
                             "epsilon_cutoff", "eta_cutoff", "repetition_penalty", "encoder_repetition_penalty",
                             "assistant_confidence_threshold"})
_BOOL_OPTIONS = frozenset({"do_sample", "compact", "remove_invalid_values", "renormalize_logits"})
_ID_OPTIONS = frozenset({"eos_token_id", "suppress_tokens", "begin_suppress_tokens", "forced_eos_token_id"})


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def _is_ids(value: Any) -> bool:
    """An iterable of ints that is not text."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, range)):
        return False
    return all(_is_int(v) for v in value)


def _check_type(name: str, value: Any) -> None:
    """An `OptionError` when a user's value has the wrong type for ``name`` (``None`` always passes)."""
    if value is None:
        return
    if name in _INT_OPTIONS:
        ok, wanted = _is_int(value), "an integer"
    elif name in _NUMBER_OPTIONS:
        ok, wanted = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif name in _BOOL_OPTIONS:
        ok, wanted = isinstance(value, bool), "True or False"
    elif name in _ID_OPTIONS:
        ok, wanted = _is_int(value) or _is_ids(value), "a token id or a list of token ids"
    elif name == "bad_words_ids":
        ok = isinstance(value, (list, tuple)) and all(_is_ids(words) for words in value)
        wanted = "a list of token-id lists, e.g. [[12], [7, 8]]"
    elif name == "seed":
        ok, wanted = _is_int(value) or _is_ids(value), "an integer, or one per input row"
    elif name == "exponential_decay_length_penalty":
        ok = (isinstance(value, (list, tuple)) and len(value) == 2 and _is_int(value[0])
              and isinstance(value[1], (int, float)) and not isinstance(value[1], bool))
        wanted = "a pair (start_index, decay_factor)"
    elif name == "compile":
        ok, wanted = value is True or value is False or value == MAX_AUTOTUNE, f"True, False or {MAX_AUTOTUNE!r}"
    elif name == "stop_strings":
        ok = isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value))
        wanted = "a string or a list of strings"
    else:
        return
    if not ok:
        raise OptionError(f"{name}={value!r} must be {wanted}.")


def suggest(name: str, candidates: frozenset[str] | Sequence[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=3, cutoff=0.6)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def with_cache_alias(user: dict[str, Any]) -> dict[str, Any]:
    """The user's options with transformers' ``cache_implementation`` read as ``cache`` (``cache`` wins)."""
    if "cache_implementation" in user and "cache" not in user:
        return {**user, "cache": user["cache_implementation"]}
    return user


def resolve_options(model_generation_config: Any, user: dict[str, Any]) -> GenerationOptions:
    """Merge user options over the model's generation config over defaults, then validate.

    ``model_generation_config`` is the model's ``transformers.GenerationConfig`` (or None).
    Raises `OptionError` for unknown names (with the closest valid name) and invalid values.
    """
    unknown = set(user) - OPTION_NAMES - ACCEPTED_AND_IGNORED
    if unknown:
        name = sorted(unknown)[0]
        raise OptionError(f"Unknown generation option {name!r}.{suggest(name, OPTION_NAMES)}")
    user = with_cache_alias(user)
    if user.get("use_cache", True) is not True:
        raise OptionError(f"use_cache={user['use_cache']!r}: mmgen always decodes with a KV cache (the tokens are "
                          "the same as without one). Leave use_cache out.")

    values: dict[str, Any] = {}
    for name in OPTION_NAMES:
        if name in user:
            # An explicit None switches an option off, as in transformers (eos_token_id=None
            # overrides the model's EOS); options that cannot be None take their neutral value.
            value = user[name]
            _check_type(name, value)
            try:
                values[name] = _normalise(name, value) if value is not None else NEUTRAL.get(name)
            except (TypeError, ValueError) as exc:  # a shape _check_type does not know (sequence_bias)
                raise OptionError(f"{name}={value!r} cannot be read: {exc}.") from None
        elif model_generation_config is not None and getattr(model_generation_config, name, None) is not None:
            values[name] = _normalise(name, getattr(model_generation_config, name))
    # The model config's default length is not a length the user chose: `max_new_tokens` from
    # the user always wins over a `max_length` that came from the model (as in transformers).
    if user.get("max_new_tokens") is not None and "max_length" not in user:
        values.pop("max_length", None)
    if values.get("max_new_tokens") is None and values.get("max_length") is None:
        logger.warning(
            "Neither the call nor the model's generation_config sets a length: generating up to "
            "max_new_tokens=%d new tokens. Pass max_new_tokens=... to choose.",
            DEFAULT_MAX_NEW_TOKENS,
        )
        values["max_new_tokens"] = DEFAULT_MAX_NEW_TOKENS
    options = GenerationOptions(**values)
    validate(options)
    return options


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise OptionError(message)


def max_seed(rows_per_input: int = 1) -> int:
    """The largest seed whose mixed row seeds (``seed * SEED_MULTIPLIER + offset``) fit in int64."""
    return (INT64_MAX - (rows_per_input - 1)) // SEED_MULTIPLIER


def _physical_memory() -> int | None:
    """This machine's RAM in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def validate_sizes(o: GenerationOptions) -> None:
    """Sizes that cannot exist whatever the model: lengths, rows per input, seeds, the token buffer.

    Each message names the option, the value, the limit and the fix.
    """
    for name in ("max_new_tokens", "max_length", "min_length", "min_new_tokens"):
        value = getattr(o, name)
        _require(value is None or value <= MAX_LENGTH_LIMIT,
                 f"{name}={value} is more tokens than any model holds (mmgen's limit is {MAX_LENGTH_LIMIT:,}, beyond "
                 f"the longest context of ~10M positions). Pass a length the model can reach, e.g. {name}=512.")
    for name in ("num_beams", "num_return_sequences"):
        value = getattr(o, name)
        _require(value <= MAX_ROWS_PER_INPUT,
                 f"{name}={value} asks for more than {MAX_ROWS_PER_INPUT} rows per input (each is a full row of the "
                 f"model's batch, with its own cache). Pass {name}<={MAX_ROWS_PER_INPUT}; for more samples, call "
                 "again with other seeds.")
    if o.seed is not None:
        limit = max_seed(o.rows_per_input)
        seeds = [o.seed] if isinstance(o.seed, int) else list(o.seed)
        too_big = next((s for s in seeds if s > limit), None)
        _require(too_big is None,
                 f"seed={too_big} is too large: row seeds are seed * {SEED_MULTIPLIER:,} + row in a 64-bit integer, so "
                 f"the largest seed is {limit:,}. Pass a smaller seed, e.g. seed % {limit + 1}.")
    length = o.max_new_tokens if o.max_new_tokens is not None else o.max_length
    memory = _physical_memory()
    if length is not None and memory is not None:
        needed = o.rows_per_input * length * TOKEN_BYTES
        _require(needed <= memory,
                 f"num_beams/num_return_sequences={o.rows_per_input} rows of up to {length:,} tokens need "
                 f"{needed / 2**30:.1f} GiB for their token ids alone, for each input, more than this machine's "
                 f"{memory / 2**30:.1f} GiB. Pass a smaller max_new_tokens (or fewer rows).")


def validate(o: GenerationOptions) -> None:
    """Check values and combinations; every message names the option and the fix."""
    _require(o.cache in CACHE_KINDS, f"cache={o.cache!r}: pass one of {', '.join(map(repr, CACHE_KINDS))} "
             "(static: preallocated to the call's length, which compile=True needs).")
    for name in ("max_new_tokens", "max_length", "min_length", "min_new_tokens", "no_repeat_ngram_size",
                 "encoder_no_repeat_ngram_size"):
        value = getattr(o, name)
        _require(value is None or (isinstance(value, int) and value >= 0),
                 f"{name}={value!r} must be a non-negative integer.")
    _require(o.max_new_tokens is None or o.max_new_tokens > 0,
             f"max_new_tokens={o.max_new_tokens} generates nothing: pass max_new_tokens >= 1.")
    _require(o.max_time is None or o.max_time > 0, f"max_time={o.max_time!r} must be a positive number of seconds.")
    _require(isinstance(o.num_beams, int) and o.num_beams >= 1, f"num_beams={o.num_beams!r} must be an integer >= 1.")
    _require(isinstance(o.num_return_sequences, int) and o.num_return_sequences >= 1,
             f"num_return_sequences={o.num_return_sequences!r} must be an integer >= 1.")
    if o.num_beams > 1:
        _require(o.num_return_sequences <= o.num_beams,
                 f"num_return_sequences={o.num_return_sequences} is larger than num_beams={o.num_beams}: beam search "
                 f"returns at most num_beams sequences. Pass num_beams>={o.num_return_sequences}.")
    elif not o.do_sample:
        _require(o.num_return_sequences == 1,
                 f"num_return_sequences={o.num_return_sequences} with greedy decoding would return identical "
                 "sequences: pass do_sample=True or num_beams>=num_return_sequences.")
    _require(o.early_stopping in (True, False, "never"),
             f"early_stopping={o.early_stopping!r} must be True, False or 'never'.")
    if o.do_sample:
        _require(o.temperature > 0,
                 f"temperature={o.temperature} is not valid for sampling: pass a temperature > 0, or do_sample=False "
                 "for greedy decoding (what temperature=0 means elsewhere).")
        _require(o.top_k is None or (isinstance(o.top_k, int) and o.top_k >= 0), f"top_k={o.top_k!r} must be >= 0.")
        _require(0 < o.top_p <= 1, f"top_p={o.top_p} must be in (0, 1].")
        _require(o.min_p is None or 0 <= o.min_p <= 1, f"min_p={o.min_p} must be in [0, 1].")
        _require(0 < o.typical_p <= 1, f"typical_p={o.typical_p} must be in (0, 1].")
        _require(0 <= o.epsilon_cutoff < 1, f"epsilon_cutoff={o.epsilon_cutoff} must be in [0, 1).")
        _require(0 <= o.eta_cutoff < 1, f"eta_cutoff={o.eta_cutoff} must be in [0, 1).")
    _require(0 < o.repetition_penalty < math.inf,
             f"repetition_penalty={o.repetition_penalty} must be a finite number > 0 (1.0 disables it).")
    _require(0 < o.encoder_repetition_penalty < math.inf,
             f"encoder_repetition_penalty={o.encoder_repetition_penalty} must be a finite number > 0 (1.0 disables it).")
    _require(math.isfinite(o.length_penalty),
             f"length_penalty={o.length_penalty} must be a finite number (1.0 is neutral; > 0 favours longer beams).")
    _require(not o.do_sample or math.isfinite(o.temperature),
             f"temperature={o.temperature} must be a finite number > 0.")
    if o.exponential_decay_length_penalty is not None:
        _require(len(o.exponential_decay_length_penalty) == 2,
                 "exponential_decay_length_penalty must be a pair (start_index, decay_factor).")
        start, factor = o.exponential_decay_length_penalty
        _require(start >= 0 and 0 < factor < math.inf,
                 f"exponential_decay_length_penalty={o.exponential_decay_length_penalty!r}: the start index must be "
                 ">= 0 and the decay factor a finite number > 0 (e.g. (10, 1.05)).")
    if o.bad_words_ids is not None:
        _require(all(len(w) > 0 for w in o.bad_words_ids),
                 "bad_words_ids must be a list of non-empty token-id lists, e.g. [[12], [7, 8]].")
    if o.seed is not None:
        seeds = [o.seed] if isinstance(o.seed, int) else list(o.seed)
        _require(all(isinstance(s, int) and s >= 0 for s in seeds),
                 f"seed={o.seed!r} must be a non-negative integer, or one per input row.")
    _require(all(callable(p) for p in o.logits_processor),
             "logits_processor must be callables (tokens, scores) -> scores.")
    _validate_forced_tokens(o)
    _validate_speculative(o)
    validate_sizes(o)


def _validate_speculative(o: GenerationOptions) -> None:
    """Speculative decoding's options; what it cannot be combined with is checked where the model is known."""
    _require(o.assistant_model is None or o.prompt_lookup_num_tokens is None,
             "assistant_model and prompt_lookup_num_tokens both guess tokens ahead: pass one of them.")
    _require(o.assistant_model is None or callable(getattr(o.assistant_model, "forward", None)),
             f"assistant_model={type(o.assistant_model).__name__} is not a model: pass a causal LM that shares the "
             "model's tokenizer (e.g. AutoModelForCausalLM.from_pretrained(...) of a smaller sibling).")
    for name in ("num_assistant_tokens", "prompt_lookup_num_tokens", "max_matching_ngram_size"):
        value = getattr(o, name)
        _require(value is None or value >= 1, f"{name}={value} must be an integer >= 1.")
    _require(o.num_assistant_tokens_schedule in SPECULATIVE_SCHEDULES,
             f"num_assistant_tokens_schedule={o.num_assistant_tokens_schedule!r}: pass one of "
             f"{', '.join(map(repr, SPECULATIVE_SCHEDULES))}.")
    _require(0 <= o.assistant_confidence_threshold < 1,
             f"assistant_confidence_threshold={o.assistant_confidence_threshold} must be in [0, 1) (0 never stops "
             "the draft early).")


def _validate_forced_tokens(o: GenerationOptions) -> None:
    """A forced token that is also banned leaves its step no token at all (every score -inf, then NaN)."""
    eos = set(o.eos_token_id or ())
    banned = set(o.suppress_tokens or ()) | {w[0] for w in o.bad_words_ids or () if len(w) == 1 and w[0] not in eos}
    for name in ("forced_bos_token_id", "forced_eos_token_id"):
        value = getattr(o, name)
        forced = set() if value is None else {value} if isinstance(value, int) else set(value)
        also = banned | (set(o.begin_suppress_tokens or ()) if name == "forced_eos_token_id" and
                         o.max_new_tokens == 1 else set())
        if name == "forced_eos_token_id" and _eos_masked_at_the_end(o):
            also |= eos
        _require(not forced or not forced <= also,
                 f"{name}={value!r} is also banned (suppress_tokens, bad_words_ids, begin_suppress_tokens, or "
                 "min_length / min_new_tokens past the end): the step that forces it would allow no token. Remove "
                 f"it from the bans, or drop {name}.")


def _eos_masked_at_the_end(o: GenerationOptions) -> bool:
    """Whether a minimum length still masks EOS at the last step (where a forced EOS acts)."""
    if o.min_new_tokens is not None and o.max_new_tokens is not None:
        return o.min_new_tokens >= o.max_new_tokens
    return o.max_length is not None and o.max_new_tokens is None and o.min_length >= o.max_length
