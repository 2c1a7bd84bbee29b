"""Every generative architecture transformers registers, one entry per model class, in five groups.

Read from the auto mappings (`transformers.models.auto.modeling_auto`) whose classes generate
text or audio tokens. A class listed under several mappings or model types (``glmga`` and
``glm46v`` both name ``Glm46VForConditionalGeneration``) is one architecture; it keeps the first
model type that names it. Classes whose ``can_generate()`` is False (VITS, PI0, FastSpeech2,
ViLT question answering) are not generative and are left out.
"""

from __future__ import annotations

import dataclasses
import functools

import transformers
from transformers.models.auto import modeling_auto
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

# The mappings whose classes are generative, in the order their model types are claimed.
GENERATIVE_MAPPINGS = (
    "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
    "MODEL_FOR_CAUSAL_IMAGE_MODELING_MAPPING_NAMES",
    "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
    "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES",
    "MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES",
    "MODEL_FOR_VISUAL_QUESTION_ANSWERING_MAPPING_NAMES",
    "MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES",
    "MODEL_FOR_TEXT_TO_WAVEFORM_MAPPING_NAMES",
    "MODEL_FOR_TEXT_TO_SPECTROGRAM_MAPPING_NAMES",
)

DECODER_ONLY = "decoder-only text"
TEXT_ENCODER_DECODER = "text encoder-decoder"
VISION_ENCODER_DECODER = "vision encoder-decoder"
VISION_LANGUAGE = "vision-language"
SPEECH_AUDIO = "speech and audio"
GROUPS = (DECODER_ONLY, TEXT_ENCODER_DECODER, VISION_ENCODER_DECODER, VISION_LANGUAGE, SPEECH_AUDIO)

# Mappings (short names) whose presence decides a group, checked in this order.
_SPEECH_MAPPINGS = {"SPEECH_SEQ_2_SEQ", "TEXT_TO_WAVEFORM", "TEXT_TO_SPECTROGRAM"}
_VISION_MAPPINGS = {"IMAGE_TEXT_TO_TEXT", "VISUAL_QUESTION_ANSWERING"}

# Where the mappings alone group a class wrongly: audio LMs filed as causal LMs, audio-input
# LMs that are only in the multimodal mapping, and image+audio models filed as causal LMs.
GROUP_OVERRIDES = {
    "MusicgenForCausalLM": SPEECH_AUDIO,
    "MusicgenMelodyForCausalLM": SPEECH_AUDIO,
    "MoshiForCausalLM": SPEECH_AUDIO,
    "Phi4MultimodalForCausalLM": VISION_LANGUAGE,
    "ImageGPTForCausalImageModeling": DECODER_ONLY,  # pixels as token ids; a plain decoder
    "AudioFlamingo3ForConditionalGeneration": SPEECH_AUDIO,  # audio-input LMs filed only as seq2seq
    "MusicFlamingoForConditionalGeneration": SPEECH_AUDIO,
}


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One generative model class: ``class_name`` built from ``CONFIG_MAPPING[model_type]``."""

    class_name: str
    model_type: str  # the type whose config class is the model class's own (llama, not exaone)
    group: str
    mappings: tuple[str, ...]  # short mapping names, e.g. ("CAUSAL_LM", "IMAGE_TEXT_TO_TEXT")
    aliases: tuple[str, ...] = ()  # every model type that names this class

    @property
    def model_class(self) -> type:
        return getattr(transformers, self.class_name)


def _short(mapping_name: str) -> str:
    return mapping_name.removeprefix("MODEL_FOR_").removesuffix("_MAPPING_NAMES")


def group_of(class_name: str, mappings: set[str], is_encoder_decoder: bool) -> str:
    if class_name in GROUP_OVERRIDES:
        return GROUP_OVERRIDES[class_name]
    if mappings & _SPEECH_MAPPINGS:
        return SPEECH_AUDIO
    if mappings & _VISION_MAPPINGS:
        return VISION_ENCODER_DECODER if is_encoder_decoder else VISION_LANGUAGE
    if "MULTIMODAL_LM" in mappings:  # multimodal but not image-text: audio-input LMs
        return SPEECH_AUDIO
    if "SEQ_TO_SEQ_CAUSAL_LM" in mappings:
        return TEXT_ENCODER_DECODER
    return DECODER_ONLY


def _is_encoder_decoder(model_class: type) -> bool:
    """Encoder-decoder classes declare it on their config or, for the composite ones, in their name."""
    config_class = getattr(model_class, "config_class", None)
    if config_class is not None and getattr(config_class, "is_encoder_decoder", False) is True:
        return True
    try:
        return bool(config_class().is_encoder_decoder)
    except Exception:  # a config that cannot be built bare is judged by its model class
        return model_class.__name__.endswith("EncoderDecoderModel")


@functools.cache
def all_architectures() -> tuple[Architecture, ...]:
    """Every generative model class in the auto mappings, in mapping order."""
    claimed: dict[str, tuple[list[str], list[str]]] = {}
    for mapping_name in GENERATIVE_MAPPINGS:
        for model_type, class_names in getattr(modeling_auto, mapping_name).items():
            class_name = class_names[0] if isinstance(class_names, (list, tuple)) else class_names
            model_types, mappings = claimed.setdefault(class_name, ([], []))
            model_types.append(model_type)
            mappings.append(_short(mapping_name))
    architectures = []
    for class_name, (model_types, mappings) in claimed.items():
        model_class = getattr(transformers, class_name, None)
        if model_class is None or not model_class.can_generate():
            continue
        aliases = tuple(dict.fromkeys(model_types))
        group = group_of(class_name, set(mappings), _is_encoder_decoder(model_class))
        architectures.append(Architecture(class_name, _own_model_type(model_class, aliases), group,
                                          tuple(dict.fromkeys(mappings)), aliases))
    return tuple(architectures)


def _own_model_type(model_class: type, model_types: tuple[str, ...]) -> str:
    """Of the model types naming a class, the one whose config class the model class declares."""
    config_class = getattr(model_class, "config_class", None)
    if getattr(config_class, "model_type", None) in model_types:
        return config_class.model_type
    for model_type in model_types:
        if CONFIG_MAPPING_NAMES.get(model_type) == getattr(config_class, "__name__", None):
            return model_type
    return model_types[0]


def by_name(names: list[str]) -> list[Architecture]:
    """Select architectures by class name, model type or group name; unknown names are an error."""
    chosen, unknown = [], []
    for name in names:
        matches = [a for a in all_architectures() if name in (a.class_name, a.group, *a.aliases)]
        if not matches:
            unknown.append(name)
        chosen.extend(m for m in matches if m not in chosen)
    if unknown:
        raise KeyError(f"no generative architecture, model type or group named {unknown}")
    return chosen
