"""Tiny seeded random-weight multi-codebook speech and music models, built from configs (nothing from a hub).

MusicGen Melody, CSM, Dia and Higgs Audio V2, each small enough to generate a few frames in well
under a second on one CPU thread, with weights large enough that their codes vary from step to step.
"""

from __future__ import annotations

import torch
import transformers as T

CODEBOOK_VOCAB = 64  # MusicGen Melody's codes; the pad / start id is CODEBOOK_VOCAB


def tiny_encodec(codebooks: int) -> T.EncodecConfig:
    """EnCodec at 16 kHz with hop 16 and 64-entry codebooks (``codebooks`` at its one bandwidth)."""
    return T.EncodecConfig(hidden_size=8, num_filters=4, num_residual_layers=1, upsampling_ratios=[4, 4],
                           codebook_size=CODEBOOK_VOCAB, codebook_dim=8, target_bandwidths=[codebooks * 6.0],
                           sampling_rate=16000, audio_channels=1, num_lstm_layers=1, compress=1, kernel_size=3,
                           last_kernel_size=3, residual_kernel_size=3)


def randomize_codebooks(quantizer: torch.nn.Module) -> None:
    """EnCodec's codebooks start at zero (they are learned by k-means): random entries make codes matter."""
    with torch.no_grad():
        for layer in quantizer.layers:
            layer.codebook.embed.normal_()


def musicgen_melody(seed: int = 0, codebooks: int = 4,
                    chroma_length: int = 6) -> T.MusicgenMelodyForConditionalGeneration:
    """T5 text encoder (d 24, projected to the decoder's 16), 12 chroma bins projected to 16 and tiled to
    ``chroma_length`` frames, a 2-layer decoder (init 0.2, so guidance changes most codes), tiny EnCodec."""
    text = T.T5Config(vocab_size=50, d_model=24, d_kv=8, d_ff=32, num_layers=1, num_heads=2, pad_token_id=0,
                      eos_token_id=1, decoder_start_token_id=0)
    decoder = T.MusicgenMelodyDecoderConfig(vocab_size=CODEBOOK_VOCAB, hidden_size=16, num_hidden_layers=2,
                                            num_attention_heads=2, ffn_dim=32, num_codebooks=codebooks,
                                            max_position_embeddings=256, initializer_factor=0.2,
                                            pad_token_id=CODEBOOK_VOCAB, bos_token_id=CODEBOOK_VOCAB)
    config = T.MusicgenMelodyConfig(text_encoder=text, audio_encoder=tiny_encodec(codebooks), decoder=decoder,
                                    chroma_length=chroma_length)
    torch.manual_seed(seed)
    model = T.MusicgenMelodyForConditionalGeneration(config).eval()
    randomize_codebooks(model.audio_encoder.quantizer)
    return model


CSM_CODEBOOKS = 4
CSM_EOS, CSM_PAD = 0, 63  # codebook_eos_token_id, codebook_pad_token_id
CSM_TEXT_PAD = 59


def csm(seed: int = 0) -> T.CsmForConditionalGeneration:
    """A 2-layer backbone (hidden 32) and a 1-layer depth decoder (hidden 16) over 4 codebooks of 64 codes,
    init 0.2, and a tiny Mimi (hop 32 at 16 kHz) whose 4 quantizers read those codes."""
    mimi = T.MimiConfig(hidden_size=16, num_filters=4, num_residual_layers=1, upsampling_ratios=[4, 4], kernel_size=3,
                        last_kernel_size=3, residual_kernel_size=3, codebook_size=64, codebook_dim=16,
                        num_quantizers=CSM_CODEBOOKS, vector_quantization_hidden_dimension=16, upsample_groups=16,
                        num_hidden_layers=1, intermediate_size=32, num_attention_heads=2, num_key_value_heads=2,
                        head_dim=8, sliding_window=16, sampling_rate=16000)
    depth = dict(num_codebooks=CSM_CODEBOOKS, backbone_hidden_size=32, vocab_size=64, hidden_size=16,
                 intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                 max_position_embeddings=CSM_CODEBOOKS + 1)
    config = T.CsmConfig(num_codebooks=CSM_CODEBOOKS, vocab_size=64, text_vocab_size=60, hidden_size=32,
                         intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         head_dim=8, codebook_pad_token_id=CSM_PAD, codebook_eos_token_id=CSM_EOS,
                         pad_token_id=CSM_TEXT_PAD, bos_token_id=58, audio_token_id=57, audio_eos_token_id=56,
                         depth_decoder_config=depth, codec_config=mimi.to_dict(), initializer_range=0.2)
    torch.manual_seed(seed)
    return T.CsmForConditionalGeneration(config).eval()


DIA_DELAYS = [0, 2, 3, 5]
DIA_EOS, DIA_PAD, DIA_BOS = 61, 62, 63  # Dia's audio special ids sit at the top of its vocabulary, EOS lowest


def dia(seed: int = 0, eos_gain: float = 40.0) -> T.DiaForConditionalGeneration:
    """A 1-layer text encoder and a 2-layer decoder (hidden 32) over 4 channels of 64 ids, delays 0, 2, 3, 5.
    Channel 0's EOS logit is scaled by ``eos_gain``, so it is the best token now and then: rows end on
    their own, at different steps."""
    encoder = T.DiaEncoderConfig(num_hidden_layers=1, hidden_size=32, num_attention_heads=2, num_key_value_heads=1,
                                 head_dim=16, intermediate_size=64, vocab_size=50, max_position_embeddings=64)
    decoder = T.DiaDecoderConfig(num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=2,
                                 num_key_value_heads=1, head_dim=16, cross_num_attention_heads=2, cross_head_dim=16,
                                 cross_num_key_value_heads=1, cross_hidden_size=32, vocab_size=64,
                                 num_channels=len(DIA_DELAYS), max_position_embeddings=128, pad_token_id=DIA_PAD,
                                 eos_token_id=DIA_EOS, bos_token_id=DIA_BOS)
    config = T.DiaConfig(encoder_config=encoder, decoder_config=decoder, delay_pattern=DIA_DELAYS,
                         initializer_range=0.2)
    torch.manual_seed(seed)
    model = T.DiaForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.logits_dense.weight[DIA_EOS] *= eos_gain  # output row c * vocab + id: channel 0's EOS
    return model


def dia_decoder_prompt(audio: list[torch.Tensor] | None, rows: int) -> dict[str, torch.Tensor]:
    """``decoder_input_ids`` / ``decoder_attention_mask`` as ``DiaProcessor`` makes them: BOS, each row's audio
    prompt (frames, C) left-padded with BOS (mask 0), room for the longest delay, the delay applied."""
    channels, longest = len(DIA_DELAYS), max(DIA_DELAYS)
    frames = max(a.shape[0] for a in audio) if audio else 0
    undelayed = torch.full((rows, 1 + frames + longest, channels), DIA_PAD, dtype=torch.long)
    mask = torch.ones(rows, 1 + frames + longest, dtype=torch.long)
    for row in range(rows):
        given = audio[row] if audio else torch.zeros(0, channels, dtype=torch.long)
        padding = frames - given.shape[0]
        undelayed[row, : padding + 1] = DIA_BOS
        undelayed[row, padding + 1: padding + 1 + given.shape[0]] = given
        mask[row, :padding] = 0
    indices = T.DiaProcessor.build_indices(rows, undelayed.shape[1], channels, DIA_DELAYS, revert=False)
    delayed = T.DiaProcessor.apply_audio_delay(undelayed, DIA_PAD, DIA_BOS, indices)
    return {"decoder_input_ids": delayed, "decoder_attention_mask": mask}


HIGGS_CODEBOOKS = 4
HIGGS_AUDIO, HIGGS_AUDIO_BOS, HIGGS_DELAY, HIGGS_EOS, HIGGS_PAD = 60, 61, 62, 63, 59  # text ids
HIGGS_STREAM_BOS, HIGGS_STREAM_EOS = 64, 65  # codes: 64 per codebook, then the stream's BOS and EOS


def higgs_audio(seed: int = 0, eos_gain: float = 12.0) -> T.HiggsAudioV2ForConditionalGeneration:
    """A 2-layer Llama (hidden 32) with dual FFNs over 64 text ids and 4 codebooks of 64 codes (plus the stream's
    BOS and EOS, as in the checkpoints). Codebook 0's stream-EOS logit is scaled by ``eos_gain``, so rows end on
    their own, at different steps."""
    config = T.HiggsAudioV2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                                  num_codebooks=HIGGS_CODEBOOKS, codebook_size=66, audio_token_id=HIGGS_AUDIO,
                                  audio_bos_token_id=HIGGS_AUDIO_BOS, audio_delay_token_id=HIGGS_DELAY,
                                  audio_stream_bos_id=HIGGS_STREAM_BOS, audio_stream_eos_id=HIGGS_STREAM_EOS,
                                  eos_token_id=HIGGS_EOS, pad_token_id=HIGGS_PAD, bos_token_id=1,
                                  initializer_range=0.2)
    torch.manual_seed(seed)
    model = T.HiggsAudioV2ForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.audio_lm_head.weight[HIGGS_STREAM_EOS] *= eos_gain  # output row k * 66 + code: codebook 0's stream EOS
    return model


def musicgen_decoder(melody: bool = False, seed: int = 0, stereo: bool = False,
                     start_in_config: bool = True) -> T.MusicgenForCausalLM | T.MusicgenMelodyForCausalLM:
    """MusicGen's (or Melody's) decoder alone: 2 layers, hidden 16, 4 codebooks of 64 codes (pad 64), init 0.2.
    ``start_in_config``: the generation config holds the decoder start id, as the checkpoints' does."""
    config_class = T.MusicgenMelodyDecoderConfig if melody else T.MusicgenDecoderConfig
    config = config_class(vocab_size=CODEBOOK_VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                          ffn_dim=32, num_codebooks=4, audio_channels=2 if stereo else 1, max_position_embeddings=256,
                          initializer_factor=0.2, pad_token_id=CODEBOOK_VOCAB, bos_token_id=CODEBOOK_VOCAB)
    if start_in_config:
        config.decoder_start_token_id = CODEBOOK_VOCAB
    torch.manual_seed(seed)
    return (T.MusicgenMelodyForCausalLM if melody else T.MusicgenForCausalLM)(config).eval()


BARK_CODEBOOK, BARK_SEMANTIC = 16, 20  # EnCodec codebook size; semantic vocabulary (its EOS / pad id is 20)
BARK_TEXT_LENGTH = 8  # max_input_semantic_length: BarkProcessor pads the text to it


def bark(seed: int = 0) -> T.BarkModel:
    """Bark's three sub-models (1 layer, hidden 16) and an 8-codebook EnCodec of 16 codes, with a generation config
    scaled to them as a checkpoint's ``generation_config.json`` loads it (the three stage configs as dicts): the
    text padded to 8 ids, at most 12 semantic tokens, coarse windows of 6 tokens over 8 semantic ones."""
    from transformers.models.bark.generation_configuration_bark import BarkGenerationConfig

    semantic = dict(block_size=64, input_vocab_size=64, output_vocab_size=24, num_layers=1, num_heads=2, hidden_size=16)
    coarse = dict(block_size=64, input_vocab_size=56, output_vocab_size=56, num_layers=1, num_heads=2, hidden_size=16)
    fine = dict(block_size=64, input_vocab_size=BARK_CODEBOOK + 1, output_vocab_size=BARK_CODEBOOK, num_layers=1,
                num_heads=2, hidden_size=16, n_codes_total=8, n_codes_given=1)
    codec = T.EncodecConfig(hidden_size=8, num_filters=4, num_residual_layers=1, upsampling_ratios=[4, 4],
                            codebook_size=BARK_CODEBOOK, codebook_dim=8, target_bandwidths=[8 * 6.0],
                            sampling_rate=16000, audio_channels=1, num_lstm_layers=1, compress=1, kernel_size=3,
                            last_kernel_size=3, residual_kernel_size=3)
    config = T.BarkConfig(semantic_config=semantic, coarse_acoustics_config=coarse, fine_acoustics_config=fine,
                          codec_config=codec.to_dict(), initializer_range=0.2)
    torch.manual_seed(seed)
    model = T.BarkModel(config).eval()
    randomize_codebooks(model.codec_model.quantizer)
    generation = BarkGenerationConfig(
        semantic_config=dict(eos_token_id=BARK_SEMANTIC, max_new_tokens=12, text_encoding_offset=24, text_pad_token=60,
                             semantic_infer_token=61, semantic_vocab_size=BARK_SEMANTIC,
                             max_input_semantic_length=BARK_TEXT_LENGTH, semantic_rate_hz=49.9),
        coarse_acoustics_config=dict(coarse_semantic_pad_token=52, coarse_rate_hz=75, n_coarse_codebooks=2,
                                     coarse_infer_token=53, max_coarse_input_length=8, max_coarse_history=12,
                                     sliding_window_len=6),
        fine_acoustics_config=dict(max_fine_history_length=8, max_fine_input_length=16, n_fine_codebooks=8),
        sample_rate=16000, codebook_size=BARK_CODEBOOK)
    model.generation_config = T.GenerationConfig.from_dict(generation.to_dict())
    return model
