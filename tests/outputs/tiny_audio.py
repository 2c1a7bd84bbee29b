"""Tiny seeded random-weight audio models: SpeechT5 TTS, a HiFi-GAN vocoder, MusicGen. Built from configs."""

from __future__ import annotations

import torch
import transformers as T

TEXT_VOCAB = 40
SPEAKER_DIM = 16


def speecht5(seed: int = 0, num_mel_bins: int = 80) -> T.SpeechT5ForTextToSpeech:
    """Hidden 32, 80 mels, reduction factor 2. The stop head's weights are scaled by 8 so the stop
    probability swings from step to step and a threshold near 1.3 ends rows after tens of steps."""
    config = T.SpeechT5Config(num_mel_bins=num_mel_bins,
        vocab_size=TEXT_VOCAB, hidden_size=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, speech_decoder_prenet_units=32,
        speech_decoder_postnet_units=32, speaker_embedding_dim=SPEAKER_DIM, max_speech_positions=1000,
        max_text_positions=128, encoder_max_relative_position=32,
    )
    torch.manual_seed(seed)
    model = T.SpeechT5ForTextToSpeech(config).eval()
    with torch.no_grad():
        model.speech_decoder_postnet.prob_out.weight.mul_(8)
    return model


def hifigan(seed: int = 0) -> T.SpeechT5HifiGan:
    """SpeechT5's HiFi-GAN layout (hop 256 = 4*4*4*4) with 16 channels and two residual kernels (3, 7);
    weights large enough for audible output."""
    config = T.SpeechT5HifiGanConfig(upsample_initial_channel=16, resblock_kernel_sizes=[3, 7],
                                     resblock_dilation_sizes=[[1, 3], [1, 3]], initializer_range=0.2)
    torch.manual_seed(seed)
    return T.SpeechT5HifiGan(config).eval()


def texts(lengths=(12, 7, 20), seed: int = 3, pad: int = 1):
    """(input_ids, attention_mask) right-padded texts of the given lengths (SpeechT5's pad id is 1)."""
    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.full((len(lengths), width), pad, dtype=torch.long)
    mask = torch.zeros((len(lengths), width), dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(4, TEXT_VOCAB, (n,), generator=g)
        mask[row, :n] = 1
    return ids, mask


def speakers(rows: int, seed: int = 4) -> torch.Tensor:
    return torch.randn(rows, SPEAKER_DIM, generator=torch.Generator().manual_seed(seed))


def musicgen(seed: int = 0, codebooks: int = 4) -> T.MusicgenForConditionalGeneration:
    """T5 text encoder (d 16), EnCodec at 16 kHz with hop 16 and 64-entry codebooks, a 2-layer decoder whose
    weights are large enough (init 0.2) that guidance changes most codes."""
    text = T.T5Config(vocab_size=50, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2, pad_token_id=0,
                      eos_token_id=1, decoder_start_token_id=0)
    audio = T.EncodecConfig(hidden_size=8, num_filters=4, num_residual_layers=1, upsampling_ratios=[4, 4],
                            codebook_size=64, codebook_dim=8, target_bandwidths=[codebooks * 6.0], sampling_rate=16000,
                            audio_channels=1, num_lstm_layers=1, compress=1, kernel_size=3, last_kernel_size=3,
                            residual_kernel_size=3)
    decoder = T.MusicgenDecoderConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                      ffn_dim=32, num_codebooks=codebooks, max_position_embeddings=256, initializer_factor=0.2, pad_token_id=64,
                                      bos_token_id=64, decoder_start_token_id=64)
    config = T.MusicgenConfig(text_encoder=text, audio_encoder=audio, decoder=decoder)
    torch.manual_seed(seed)
    model = T.MusicgenForConditionalGeneration(config).eval()
    with torch.no_grad():  # EnCodec's codebooks start at zero (they are learned by k-means): make codes matter.
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
    return model


def latent_tts(kind: str = "pocket_tts", seed: int = 0, flow_type: str = "lsd") -> torch.nn.Module:
    """Pocket TTS (``kind="pocket_tts"``) or Gradium Phonon TTS (``"gradium_phonon_tts"``): hidden 32, 2 layers,
    16-dim latents, a 2-block flow head, 64 text ids below the special ids."""
    config_class, model_class = {
        "pocket_tts": (T.PocketTTSConfig, T.PocketTTSForConditionalGeneration),
        "gradium_phonon_tts": (T.GradiumPhononTTSConfig, T.GradiumPhononTTSForConditionalGeneration),
    }[kind]
    flow = {"hidden_size": 32, "num_hidden_layers": 2, "latent_dim": 16, "condition_dim": 32, "frequency_embedding_size": 16,
                "flow_type": flow_type}
    special = {"audio_prompt_token_id": 64, "audio_latent_token_id": 65, "audio_bos_token_id": 66, "pad_token_id": 3}
    if kind == "pocket_tts":
        special["audio_prompt_bos_token_id"] = 67
    else:
        special.update(audio_prompt_dim=16, num_speakers_embedding_dim=8, duration_delta_embedding_dim=16)
    config = config_class(vocab_size=68, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=64, latent_dim=16, flow_head_config=flow, **special)
    torch.manual_seed(seed)
    return model_class(config).eval()


def latent_tts_prompts(model: torch.nn.Module, lengths=(6, 3), seed: int = 5):
    """(input_ids, attention_mask): texts left-padded, each ending at the first audio position."""
    g = torch.Generator().manual_seed(seed)
    config = model.config
    width = max(lengths) + 1
    ids = torch.full((len(lengths), width), config.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(lengths), width), dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, width - n - 1:-1] = torch.randint(4, 60, (n,), generator=g)
        ids[row, -1] = config.audio_bos_token_id
        mask[row, width - n - 1:] = 1
    return ids, mask
