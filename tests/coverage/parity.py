"""One parity check: ``mmgen.generate`` against ``model.generate`` on the same inputs and options.

Each side gets its own deep copy of the inputs (some models' ``generate`` writes into them, as
BLIP's does with its BOS). The reference's output is its ``sequences`` when it returns a
``ModelOutput``. Outcomes: "pass" (same shape, ``torch.equal``), "fail" (tokens or shape differ,
with the first differing position), "error" (mmgen raised), "reference error"
(``model.generate`` itself raised on these inputs: the harness cannot judge mmgen there),
"unsupported" (transformers refuses the strategy for this model: beam search for MusicGen, CSM),
"not applicable" (no such strategy for this model: SpeechT5 synthesis has no beam search), "refused"
(mmgen refuses a fast path for this model with an ``OptionError`` that says why).

Models that generate continuous frames (SpeechT5's spectrograms, Pocket TTS's latents) are compared
frame for frame: ``Generation.spectrogram`` (or ``latents``) rows against the reference's padded
batch, equal up to float rounding.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import time
from typing import Any

import torch
from model_builder import first_line

import mmgen

NEW_TOKENS = 10
STRATEGIES: dict[str, dict[str, Any]] = {
    "greedy": {"do_sample": False},
    "beam": {"do_sample": False, "num_beams": 3},
}
# mmgen's fast paths (issue 12), checked by hand with ``sweep.py --strategies``: {name: (the strategy whose plain
# model.generate call is the reference, the options mmgen gets on top)}. A fast path must give the plain tokens.
FAST_PATHS: dict[str, tuple[str, dict[str, Any]]] = {
    "static": ("greedy", {"cache": "static"}),
    "compiled": ("greedy", {"compile": True}),
}
ALL_STRATEGIES = (*STRATEGIES, *FAST_PATHS)

PASS, FAIL, ERROR, REFERENCE_ERROR, REFUSED = "pass", "fail", "error", "reference error", "refused"
UNSUPPORTED, NOT_APPLICABLE = "unsupported", "not applicable"
FRAME_RTOL, FRAME_ATOL = 1e-4, 1e-5

# Models whose generation takes other options than token decoding: {strategy: options}; a strategy
# missing here is not applicable to them. SpeechT5 synthesis stops on its own stop probability.
# Bark bounds its speech by its semantic stage (an unprefixed max_new_tokens reaches its coarse stage twice and
# transformers fails); its other stages follow.
CLASS_STRATEGIES: dict[str, dict[str, dict[str, Any]]] = {
    "SpeechT5ForTextToSpeech": {"greedy": {}},
    "BarkModel": {strategy: {**options, "semantic_max_new_tokens": NEW_TOKENS}
                  for strategy, options in STRATEGIES.items()},
}

# Classes transformers registers as generative that cannot generate on their own: no strategy applies.
# Gemma 4's assistants are multi-token-prediction draft models: their forward raises without the main
# model's ``inputs_embeds`` and ``shared_kv_states`` (they run only as ``assistant_model=`` of a Gemma 4).
_DRAFT = ("a draft model for assisted decoding: its forward needs the main Gemma 4 model's inputs_embeds and "
          "shared_kv_states (model.generate(assistant_model=...))")
NOT_GENERATIVE_ALONE: dict[str, str] = {
    "Gemma4AssistantForCausalLM": _DRAFT,
    "Gemma4UnifiedAssistantForCausalLM": _DRAFT,
}
_REFUSED = re.compile(r"beam.?search|incompatible mode for generation|not supported", re.IGNORECASE)

# Options given to the reference only, as the project's own parity tests do: Whisper's one
# underlying short-form pass (the default call decodes on from the last timestamp).
# MusicGen's decoder alone: its generate (transformers 5) reads num_return_sequences before any default fills it.
# SeamlessM4T's speech generate returns (waveform, lengths) unless asked for its token ids too: the
# text tokens it decodes are the ``sequences`` compared.
REFERENCE_OPTIONS = {"WhisperForConditionalGeneration": {"force_unique_generate_call": True},
                     "MusicgenForCausalLM": {"num_return_sequences": 1},
                     "SeamlessM4TForTextToSpeech": {"return_intermediate_token_ids": True},
                     "SeamlessM4Tv2ForTextToSpeech": {"return_intermediate_token_ids": True},
                     # The thinker's text is compared; the talker would sample speech after it (4096 codec tokens).
                     "Qwen2_5OmniForConditionalGeneration": {"generation_mode": "text"},
                     "Qwen3OmniMoeForConditionalGeneration": {"return_audio": False}}


def whisper_drop_in(one_pass: torch.Tensor, result: Any, model: torch.nn.Module) -> torch.Tensor:
    """The reference's one pass in the shape mmgen returns. Where mmgen keeps the decoder prompt apart
    (``Generation.prompt_ids``, the shape of Whisper's ``generate``): each row's tokens after the
    prompt up to its first EOS, right padded with the pad id. Else the pass as it is."""
    prompt_ids = getattr(result, "prompt_ids", None)
    if prompt_ids is None:
        return one_pass
    generation = model.generation_config
    eos, pad = generation.eos_token_id, generation.pad_token_id
    eos = eos[0] if isinstance(eos, (list, tuple)) else eos
    rows = [row[: row.index(eos)] if eos in row else row for row in one_pass[:, prompt_ids.shape[1]:].tolist()]
    width = max(len(r) for r in rows)
    return torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=one_pass.dtype)


# The reference's output in mmgen's convention, where the project documents one of its own.
REFERENCE_LAYOUT = {"WhisperForConditionalGeneration": whisper_drop_in}


@dataclasses.dataclass
class Outcome:
    status: str
    cause: str = ""
    seconds: float = 0.0
    new_tokens: int | None = None  # columns generated by the reference, when it ran

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {first_line(error)}"


def reference_sequences(output: Any) -> torch.Tensor:
    """``model.generate``'s token ids: the tensor itself, or ``output.sequences``; its continuous frames
    where it generates those (``output.audio_latents``)."""
    if isinstance(output, torch.Tensor):
        return output
    latents = getattr(output, "audio_latents", None)  # continuous frames (Pocket TTS): (rows, frames, latent)
    if isinstance(latents, torch.Tensor):
        return latents
    sequences = getattr(output, "sequences", None)
    if isinstance(sequences, torch.Tensor):
        return sequences
    raise TypeError(f"model.generate returned {type(output).__name__} without token sequences")


def first_difference(expected: torch.Tensor, actual: torch.Tensor, prompt_length: int) -> str:
    """"tokens differ at position k (new token j)": the first column where any row differs."""
    if expected.shape != actual.shape:
        return f"shape differs: reference {tuple(expected.shape)}, mmgen {tuple(actual.shape)}"
    columns = (expected != actual).reshape(-1, expected.shape[-1]).any(0).nonzero()
    position = int(columns[0])
    return f"tokens differ at position {position} (new token {position - prompt_length})"


def strategy_options(model: torch.nn.Module, strategy: str, new_tokens: int) -> dict[str, Any] | None:
    """The options of one strategy for this model (a fast path: its reference strategy's), or None where the
    strategy does not apply."""
    strategy = FAST_PATHS[strategy][0] if strategy in FAST_PATHS else strategy
    own = CLASS_STRATEGIES.get(type(model).__name__)
    if own is not None:
        return own.get(strategy)
    return {"max_new_tokens": new_tokens, **STRATEGIES[strategy]}


def fast_path_options(strategy: str) -> dict[str, Any]:
    """The options mmgen gets beyond the reference's: a fast path's own (`FAST_PATHS`), else none."""
    return FAST_PATHS[strategy][1] if strategy in FAST_PATHS else {}


def as_reference_layout(result: Any, expected: torch.Tensor) -> torch.Tensor:
    """mmgen's output in the reference's layout: token ids, or continuous rows padded into its batch."""
    if not expected.is_floating_point():
        return result.sequences
    rows = next((r for r in (result.spectrogram, result.latents, result.audio) if r is not None), None)
    if rows is None:  # mmgen decoded tokens where the reference generates frames
        return result.sequences
    padded = torch.zeros_like(expected)
    for i, row in enumerate(rows):
        if row.shape[0] > expected.shape[1] or i >= expected.shape[0]:
            return torch.stack(list(rows))  # a shape the reference does not have: reported as a shape difference
        padded[i, :row.shape[0]] = row
    return padded


def same_values(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    """Token ids must be equal; continuous frames equal up to float rounding (another batching of the same sums)."""
    if expected.is_floating_point():
        return torch.allclose(actual, expected, rtol=FRAME_RTOL, atol=FRAME_ATOL)
    return torch.equal(actual, expected)


SEED = 1234  # torch's global generator, reset before each of the two calls


def check(model: torch.nn.Module, inputs: dict[str, Any], strategy: str, new_tokens: int = NEW_TOKENS) -> Outcome:
    options = strategy_options(model, strategy, new_tokens)
    if options is None:
        return Outcome(NOT_APPLICABLE, f"{type(model).__name__} has no {strategy} decoding")
    started = time.perf_counter()
    try:
        with torch.no_grad():
            reference_options = {**options, **REFERENCE_OPTIONS.get(type(model).__name__, {})}
            torch.manual_seed(SEED)  # some models draw noise inside their forward (VibeVoice's audio tokenizer)
            expected = reference_sequences(model.generate(**copy.deepcopy(inputs), **reference_options))
    except Exception as error:
        refused = strategy != "greedy" and _REFUSED.search(str(error))
        return Outcome(UNSUPPORTED if refused else REFERENCE_ERROR, describe(error), time.perf_counter() - started)
    prompt_length = _prompt_length(model, inputs, expected, new_tokens)
    generated = expected.shape[-1] - prompt_length
    try:
        with torch.no_grad():
            torch.manual_seed(SEED)  # the same draws as the reference's
            result = mmgen.generate(model, **copy.deepcopy(inputs), **options, **fast_path_options(strategy))
        layout = REFERENCE_LAYOUT.get(type(model).__name__)
        if layout is not None:
            expected = layout(expected, result, model)
        actual = as_reference_layout(result, expected)
    except mmgen.OptionError as error:  # a fast path refused for this model, with the fix in the message
        status = REFUSED if strategy in FAST_PATHS else ERROR
        return Outcome(status, describe(error), time.perf_counter() - started, generated)
    except Exception as error:
        return Outcome(ERROR, describe(error), time.perf_counter() - started, generated)
    seconds = time.perf_counter() - started
    if actual.shape == expected.shape and same_values(actual.cpu(), expected.cpu()):
        return Outcome(PASS, _uncompiled(strategy, result), seconds, generated)
    if expected.is_floating_point() and not actual.is_floating_point():
        return Outcome(FAIL, f"reference generates frames {tuple(expected.shape)}, mmgen token ids "
                             f"{tuple(actual.shape)}", seconds, generated)
    if expected.is_floating_point() and actual.shape == expected.shape:
        return Outcome(FAIL, f"frames differ by up to {float((actual - expected).abs().max()):.2e}", seconds, generated)
    prompt_length = getattr(result, "prompt_length", None) or prompt_length
    return Outcome(FAIL, first_difference(expected.cpu(), actual.cpu(), prompt_length), seconds, generated)


def _uncompiled(strategy: str, result: Any) -> str:
    """A note for a compiled strategy whose call compiled nothing (a model mmgen decodes uncompiled, after its
    warning): it passes on the plain step's tokens. Each architecture runs in a process of its own, so its
    first compiled call always spends some time compiling (or loading inductor's cached kernels)."""
    compiled = FAST_PATHS.get(strategy, (None, {}))[1].get("compile")
    timings = getattr(result, "timings", None)
    if compiled and timings is not None and timings.compile_seconds == 0:
        return "ran uncompiled"
    return ""


def _prompt_length(model: torch.nn.Module, inputs: dict[str, Any], expected: torch.Tensor, new_tokens: int) -> int:
    """Columns of the reference's output before the generated ones (decoder-only: the prompt)."""
    if getattr(model.config, "is_encoder_decoder", False) or "input_ids" not in inputs:
        return max(0, expected.shape[-1] - new_tokens)
    return int(inputs["input_ids"].shape[-1])
