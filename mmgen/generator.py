"""``mmgen.load``: a model, its processor and its input adapter, fed raw inputs.

    generator = mmgen.load("path/to/model")          # a local directory or a hub name
    results = generator.generate(["Hello", "Bonjour"], max_new_tokens=32)
    results[0].text, results[0].tokens, results[0].finish_reason
    for delta in generator.stream("Once upon a time"):
        print(delta.text, end="")
    for index, result in generator.generate_many(prompts, batch_size=8):   # continuous batching
        print(index, result.text)

The model class is an ``AutoModelFor...`` chosen from the config (`auto_class_for`); the input
adapter from the model's input modality (`mmgen.inputs.adapters.adapter_for`). ``generate`` runs the
adapter on the raw inputs, then the decode core (`mmgen.generate`) on its tensors, and returns
one `Result` per generated row. Nothing here depends on the model family: family-specific
prompts and options live in the family adapters (`mmgen.families`).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import transformers as T

from mmgen.api import generate as generate_tokens
from mmgen.api import generate_many as generate_tokens_many
from mmgen.api import stream as stream_tokens
from mmgen.core.frames import FinishReason, TokenStep
from mmgen.core.options import OPTION_NAMES, OptionError
from mmgen.core.results import Generation
from mmgen.families import FAMILIES
from mmgen.inputs.adapters import (
    AudioAdapter,
    Components,
    ImageAdapter,
    InputAdapter,
    TextAdapter,
    adapter_for,
    as_batch,
    load_components,
)
from mmgen.loading import (
    LoadError,
    check_device,
    check_generation_config,
    check_quantization,
    hub_arguments,
    load_model,
    missing_model,
    needs_remote_code,
    quiet,
    remote_code_refused,
)
from mmgen.outputs.text_stream import TextDelta, stream_text
from mmgen.registry import resolve_model_path
from mmgen.runtime.quantize import quantize as quantize_model
from mmgen.runtime.threads import AUTO, check_threads, configure_threads, machine_load

logger = logging.getLogger("mmgen")

# (task mapping, Auto class) in the order a model type found in several is resolved: a model
# type that is both a speech / image-to-text model and a causal LM loads as the former.
AUTO_CLASSES: tuple[tuple[Any, type], ...] = (
    (T.MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING, T.AutoModelForSpeechSeq2Seq),
    (T.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING, T.AutoModelForImageTextToText),
    (T.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING, T.AutoModelForSeq2SeqLM),
    (T.MODEL_FOR_CAUSAL_LM_MAPPING, T.AutoModelForCausalLM),
    (T.MODEL_FOR_TEXT_TO_SPECTROGRAM_MAPPING, T.AutoModelForTextToSpectrogram),
    (T.MODEL_FOR_TEXT_TO_WAVEFORM_MAPPING, T.AutoModelForTextToWaveform),
)

# from_pretrained arguments that locate files, given to the processor loaders as well.
HUB_ARGUMENTS = frozenset({"revision", "cache_dir", "local_files_only", "token", "trust_remote_code", "subfolder"})

# Call options `load` keeps as the generator's defaults instead of passing to from_pretrained.
CALL_OPTIONS = (OPTION_NAMES | frozenset().union(*(f.options for f in FAMILIES))
                | AudioAdapter.OPTIONS | ImageAdapter.OPTIONS | TextAdapter.OPTIONS)


@dataclass(frozen=True)
class Result:
    """One generated row.

    text: the generated text (special tokens skipped); "" for speech and audio outputs.
    tokens: (generated,) the row's real new token ids (`Generation.row_tokens`: up to its EOS, included
      except for Whisper, whose ``generate`` drops it); for speech and audio-code models, the
      row's input ids or codes as the family returns them.
    finish_reason: why the row ended.
    input_index: the input it answers (rows are input-major: ``num_return_sequences`` per input).
    score: the length-penalised beam score under beam search, else None.
    audio, sampling_rate: the waveform of speech / audio models, else None (SpeechT5 without a
      ``vocoder=``: see ``spectrogram``).
    spectrogram: (frames, num_mel_bins) of speech synthesis, else None.
    """

    text: str
    tokens: torch.Tensor
    finish_reason: FinishReason
    input_index: int
    score: float | None = None
    audio: torch.Tensor | None = None
    sampling_rate: int | None = None
    spectrogram: torch.Tensor | None = None


# -- loading --------------------------------------------------------------------------------------

def auto_class_for(config: Any) -> type:
    """The ``AutoModelFor...`` class that loads a generative head for ``config``.

    The class named in ``config.architectures`` decides; without one (or with a base model
    there), the first task of `AUTO_CLASSES` that has the model type.
    """
    key = type(config)
    tasks = [(mapping, auto) for mapping, auto in AUTO_CLASSES if key in mapping]
    for architecture in config.architectures or ():
        for mapping, auto in tasks:
            classes = mapping[key] if isinstance(mapping[key], tuple) else (mapping[key],)
            if any(c.__name__ == architecture for c in classes):
                return auto
    if tasks:
        return tasks[0][1]
    raise LoadError(
        f"mmgen cannot generate with model_type={config.model_type!r} (architectures={config.architectures}): "
        "it is not a causal LM, sequence-to-sequence, speech-to-text, image-text-to-text, text-to-spectrogram "
        "or text-to-waveform model."
    )


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load(name_or_path: str | os.PathLike, device: str | torch.device | None = None,
         dtype: str | torch.dtype | None = None, *, quantize: str | None = None, threads: int | str | None = "auto",
         verbose: bool = False, allow_pickle: bool = False, **kwargs: Any) -> Generator:
    """Load a model and its processor as a `Generator`.

    name_or_path: a local directory (``save_pretrained`` output), a hub name, or a short name
      of `mmgen.registry`.
    device: where the model runs; default CUDA when available, else CPU (always CPU with
      ``quantize``). Checked first: a device torch does not know or cannot see is a `LoadError`
      before anything is read.
    dtype: the weights' dtype (``torch.bfloat16``, ``"float16"``, ``"auto"``); default
      transformers' own (float32 with ``quantize``).
    quantize: ``"int8"`` gives the loaded model int8 linear layers for CPU decoding
      (`mmgen.quantize`, whose size rule keeps small layers float32). An unknown scheme, a device
      other than the CPU or a dtype other than float32 is a `QuantizationError` before anything
      is read.
    threads: torch's intra-op threads once the model is loaded: ``"auto"`` (default) is
      `mmgen.runtime.configure_threads`' choice from the model's size and this machine's free
      cores (``OMP_NUM_THREADS``, when set, wins); a count sets that many; None leaves torch's
      setting as it is. Process-wide (``torch.set_num_threads``); a model off the CPU leaves it.
    verbose: show transformers' and huggingface_hub's progress bars and the hub's retry lines
      while loading (hidden by default, and restored afterwards; warnings are always shown).
    allow_pickle: read a pickle checkpoint (``pytorch_model.bin``) when the model has no
      safetensors weights, with ``torch.load(weights_only=True)``; by default only safetensors
      are read. ``trust_remote_code=True`` (passed on to ``from_pretrained``) is likewise the
      user's to give: mmgen never sets it.
    kwargs: generation options (``max_new_tokens=...``), family options (``tgt_lang=...``) and
      input options (``sampling_rate=...``) become the generator's defaults; anything else goes
      to ``from_pretrained`` (``revision``, ``local_files_only``, ``attn_implementation``, ...).

    Raises `LoadError` (an ``OSError``) naming the model, the reason and the fix: a missing or
    unknown model, a hub name while the hub cannot be reached (at once, not after retries), a
    device that is not there, remote code not allowed, pickle weights not allowed, a
    ``generation_config.json`` that is not JSON. See `mmgen.loading`. `QuantizationError` and
    ``ValueError`` (both ``ValueError``s) for a ``quantize`` or ``threads`` it cannot honour.
    """
    name = os.fspath(name_or_path)
    try:
        path = resolve_model_path(name)
    except LookupError as exc:  # an unknown demo/... name: the message lists the known ones
        raise LoadError(f"Cannot load model {name!r}: {exc} Fix: pass one of those, a local directory or a hub name."
                        ) from None
    target = check_device("cpu" if device is None and quantize is not None else device, name)
    check_quantization(name, quantize, target, dtype)
    threads = check_threads(threads)
    load_average = machine_load()  # before loading: its own work would count in the average
    defaults = {k: v for k, v in kwargs.items() if k in CALL_OPTIONS}
    model_kwargs = {k: v for k, v in kwargs.items() if k not in CALL_OPTIONS}
    hub_kwargs = {k: v for k, v in model_kwargs.items() if k in HUB_ARGUMENTS}
    hub_kwargs.setdefault("trust_remote_code", False)  # explicit: transformers would otherwise prompt on a terminal
    hub_kwargs = hub_arguments(path, hub_kwargs)
    model_kwargs.update(hub_kwargs)
    with quiet(verbose):
        try:
            config = T.AutoConfig.from_pretrained(path, **hub_kwargs)
        except ValueError as exc:
            if needs_remote_code(exc):
                raise remote_code_refused(name) from None
            raise missing_model(path, exc) from exc
        except OSError as exc:
            raise missing_model(path, exc) from exc
        check_generation_config(name, path, hub_kwargs)
        if dtype is not None or quantize is not None:
            model_kwargs["dtype"] = torch.float32 if dtype is None else dtype
        model = load_model(name, path, auto_class_for(config), model_kwargs, allow_pickle)
        try:
            components = load_components(path, **hub_kwargs)
        except ValueError as exc:  # a processor part that needs the model's own code
            raise remote_code_refused(name) from exc
    try:
        model = model.to(target).eval()
    except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
        raise LoadError(f"Cannot load model {name!r} on {target}: {str(exc).splitlines()[0]}. Fix: pass a smaller "
                        "dtype (dtype='bfloat16', --dtype bfloat16), another device, or a smaller model.") from exc
    if quantize is not None:
        quantize_model(model, quantize)
    if threads is not None:
        configure_threads(model, None if threads == AUTO else threads, load=load_average)
    return Generator(model, components, defaults=defaults)


# -- generation -----------------------------------------------------------------------------------

class Generator:
    """A model with its preprocessing parts and input adapter; ``generate`` / ``stream`` take raw inputs.

    model: a transformers model (``from_pretrained`` or built from a config).
    components: its processor / tokenizer / image processor / feature extractor (a `Components`,
      or one processor or tokenizer, sorted into place).
    adapter: the input adapter; default chosen from the model's input modality.
    defaults: call options applied under each call's own (``{"max_new_tokens": 64}``).
    """

    def __init__(self, model: torch.nn.Module, components: Components | Any,
                 adapter: InputAdapter | None = None, defaults: Mapping[str, Any] | None = None):
        if not isinstance(components, Components):
            components = Components.from_parts(components)
        self.model = model
        self.components = components
        self.adapter = adapter if adapter is not None else adapter_for(model, components)
        self.defaults = dict(defaults or {})

    @property
    def tokenizer(self) -> Any:
        return self.components.tokenizer

    @property
    def processor(self) -> Any:
        """The model's processor, or its single part when it has none."""
        c = self.components
        return c.processor or c.tokenizer or c.image_processor or c.feature_extractor

    @property
    def generation_config(self) -> Any:
        """The model's generation defaults (``generation_config.json``); the generator's `defaults` apply over
        them, and each call's options over both."""
        return self.model.generation_config

    def __repr__(self) -> str:
        return (f"Generator({type(self.model).__name__}, input={self.adapter.modality}, "
                f"device={self.model.device}, defaults={self.defaults})")

    def encode(self, inputs: Any, **adapter_options: Any) -> dict[str, torch.Tensor]:
        """Raw inputs (one or a batch) -> the model inputs the adapter makes; floats in the model's dtype."""
        return self._encode(as_batch(inputs), adapter_options)

    def _encode(self, items: list[Any], adapter_options: dict[str, Any]) -> dict[str, torch.Tensor]:
        encoded = self.adapter(items, **adapter_options)
        dtype = getattr(self.model, "dtype", None)
        return {k: v.to(dtype) if v.is_floating_point() and dtype is not None and dtype.is_floating_point else v
                for k, v in encoded.items()}

    def arguments(self, inputs: Any, **options: Any) -> tuple[dict[str, Any], int]:
        """(keyword arguments for `mmgen.api.generate` / ``stream``, number of inputs).

        The raw inputs become model inputs through the adapter; the options (the generator's
        defaults under the call's own) and the tokenizer go along as they are.
        """
        options = {**self.defaults, **options}
        adapter_options = {k: options.pop(k) for k in list(options) if k in self.adapter.OPTIONS}
        items = as_batch(inputs)
        model_inputs = self._encode(items, adapter_options)
        clash = sorted(set(model_inputs) & set(options))
        if clash:
            raise TypeError(f"{clash[0]}= is made from the inputs by the generator; pass raw inputs only, or call "
                            "mmgen.generate(model, ...) with tensors.")
        return {"tokenizer": self.tokenizer, **model_inputs, **options}, len(items)

    def generate(self, inputs: Any, **options: Any) -> list[Result]:
        """One `Result` per generated row (``num_return_sequences`` per input, input-major).

        inputs: one raw input or a list of them (see `mmgen.inputs.adapters`); options: generation,
        family and input options (``max_new_tokens=``, ``tgt_lang=``, ``sampling_rate=``, ...).
        """
        arguments, inputs_count = self.arguments(inputs, **options)
        generation = generate_tokens(self.model, **arguments)
        return self._results(generation, inputs_count)

    def generate_encoded(self, model_inputs: Mapping[str, torch.Tensor], inputs_count: int,
                         **options: Any) -> list[Result]:
        """`generate` for inputs already through the adapter (`encode`, e.g. one at a time in reader threads and
        stacked): ``model_inputs`` the batch's tensors, ``inputs_count`` its inputs."""
        options = {**self.defaults, **options}
        applied = sorted(self.adapter.OPTIONS & set(options))
        if applied:
            raise TypeError(f"{applied[0]}= is an input option, applied when the inputs were encoded: pass it to encode.")
        generation = generate_tokens(self.model, tokenizer=self.tokenizer, **model_inputs, **options)
        return self._results(generation, inputs_count)

    def generate_many(self, inputs: Iterable[Any], batch_size: int = 8, **options: Any) -> Iterator[tuple[int, Result]]:
        """Continuous batching (`mmgen.generate_many`): yield ``(index, Result)`` for each input as soon as it finishes.

        Up to ``batch_size`` inputs decode together and a finished one's place is taken by the next.
        Each input is encoded alone, when its place frees up (``inputs`` is read lazily), so its
        `Result` is the one ``generate(input, **options)`` gives. Raises `OptionError` where
        `mmgen.generate_many` does (beam search, several sequences per input, models that prepare
        their own inputs every step); an input that cannot be encoded raises when it is reached.
        """

        def calls() -> Iterator[dict[str, Any]]:
            for item in inputs:
                arguments, _ = self.arguments([item], **options)
                del arguments["tokenizer"]
                yield arguments

        for index, generation in generate_tokens_many(self.model, calls(), batch_size, tokenizer=self.tokenizer):
            yield index, self._results(generation, 1)[0]

    def _results(self, generation: Generation, inputs_count: int) -> list[Result]:
        rows = generation.sequences.shape[0]
        per_input = max(1, rows // inputs_count)
        scores = generation.sequence_scores.tolist() if generation.sequence_scores is not None else [None] * rows
        if generation.spectrogram is not None or generation.sequences.ndim != 2:  # speech / audio-code outputs
            return [Result(text="", tokens=generation.sequences[i].cpu(), finish_reason=generation.finish_reasons[i],
                           input_index=i // per_input, score=scores[i],
                           audio=generation.audio[i] if generation.audio is not None else None,
                           sampling_rate=generation.sampling_rate,
                           spectrogram=generation.spectrogram[i] if generation.spectrogram is not None else None)
                    for i in range(rows)]
        tokens = [generation.row_tokens(i).cpu() for i in range(rows)]
        texts = ([""] * rows if self.tokenizer is None
                 else self.tokenizer.batch_decode(tokens, skip_special_tokens=True))
        return [Result(text=texts[i], tokens=tokens[i], finish_reason=generation.finish_reasons[i],
                       input_index=i // per_input, score=scores[i]) for i in range(rows)]

    def stream(self, inputs: Any, **options: Any) -> Iterator[TextDelta]:
        """Yield `TextDelta`s (new text per row, ``row`` input-major) as tokens are generated.

        Joining a row's deltas gives its `Result.text`. Inputs and options are checked before
        the first step; beam search cannot stream text (its best hypothesis rewrites past
        tokens): use `generate`.
        """
        if self.tokenizer is None:
            raise TypeError("stream() decodes text and this model has no tokenizer.")
        arguments, _ = self.arguments(inputs, **options)
        num_beams = arguments.get("num_beams") or getattr(self.model.generation_config, "num_beams", None) or 1
        if num_beams > 1:
            raise TypeError(f"Beam search (num_beams={num_beams}) cannot stream text: its best hypothesis rewrites "
                            "past tokens. Use generate(...), or pass num_beams=1.")
        events = stream_tokens(self.model, **arguments)
        return _text_deltas(events, self.tokenizer)


def as_generator(model_or_generator: Any, processor: Any = None) -> Generator:
    """A `Generator` from a generator, a model directory or name (`load`), or a model with ``processor=``."""
    if isinstance(model_or_generator, Generator):
        return model_or_generator
    if isinstance(model_or_generator, (str, os.PathLike)):
        return load(model_or_generator)
    if isinstance(model_or_generator, torch.nn.Module):
        if processor is None:
            raise OptionError("A bare model needs its processor to read its inputs and decode its outputs: pass "
                              "processor=AutoProcessor.from_pretrained(...), or use mmgen.load(path).")
        return Generator(model_or_generator, processor)
    raise TypeError(f"Expected a mmgen Generator, a model path or a model, got {type(model_or_generator).__name__}.")


def _text_deltas(events: Iterator[Any], tokenizer: Any) -> Iterator[TextDelta]:
    first = next(events, None)
    if first is None:
        return
    if not isinstance(first, TokenStep):
        raise TypeError(f"stream() reads one token per row, and this call yields {type(first).__name__} events "
                        "(beam search rewrites its best hypothesis): use generate(...), or num_beams=1.")
    yield from stream_text(itertools.chain([first], events), tokenizer, rows=first.tokens.shape[0])


__all__ = ["AUTO_CLASSES", "Generator", "LoadError", "Result", "as_generator", "auto_class_for", "load"]
