"""Makes a small checkpoint directory the way a user has one (random weights saved with
`save_pretrained`, a real tokenizer trained here and saved beside them; no network), then
writes what Python transformers computes on it for the given texts, for the Rust skill's
tests to match.

    python skill_reference.py KIND DIR TEXT [TEXT ...] > expected.json

Image kinds also write test images (PNG: RGB noise, an RGB gradient, a grey one, an RGBA one,
each of another size) into `DIR-images/` and list them in the output.

KIND: `bert-embed` (BertModel + sentence-transformers mean pooling and Normalize),
`bert-classify` (BertForSequenceClassification with id2label), `llama-generate`
(LlamaForCausalLM, greedy), `llama-long` (the same with 512 positions and no end-of-sequence id:
256 new tokens), `qwen2-generate` (Qwen2ForCausalLM, greedy), `t5-generate`
(T5ForConditionalGeneration, greedy), `vit-classify` (ViTForImageClassification, the PIL
image processor resizing with bilinear), `clip-similarity` (CLIPModel: shortest edge with
bicubic, center crop; logits_per_image), `detr-detect` (DetrForObjectDetection with a ResNet
backbone: shortest and longest edge, a padded batch with pixel_mask, post-processed detections),
`xclip-similarity` (XCLIPModel: videos as folders of frames through VideoMAEImageProcessorPil;
logits_per_video), `clap-similarity` (ClapModel, unfused: ClapFeatureExtractor with `rand_trunc` and
`repeatpad`; logits_per_audio), `llava-generate` (LlavaForConditionalGeneration through LlavaProcessor: a prompt per image with
its `<image>` placeholder, greedy), `llava_next-generate` (LlavaNextForConditionalGeneration through
LlavaNextProcessor with LlavaNextImageProcessorPil: any-resolution tiles, greedy), `wav2vec2-ctc` (Wav2Vec2ForCTC with a CTC vocabulary:
transcripts), `wav2vec2-classify` (Wav2Vec2ForSequenceClassification), `whisper-transcribe`
(WhisperForConditionalGeneration: log-mel features, greedy generate with suppressed tokens). Audio kinds write WAV
files (16 kHz, 16-bit PCM, mono) into `DIR-audio/`.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

transformers.logging.set_verbosity_error()

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "hardware compatibility of every model on every backend",
    "a checkpoint directory holds a config, weights and a tokenizer",
    "rust skills run real checkpoints offline and match python",
] * 4

MAX_NEW_TOKENS = 8
LONG_NEW_TOKENS = 256  # `llama-long`: the cache's linear work, counted


def wordpiece() -> Tokenizer:
    """A BERT-style WordPiece tokenizer trained on the corpus ([CLS] ... [SEP], lower case)."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=120, special_tokens=specials))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def byte_bpe(eos_suffix: bool) -> Tokenizer:
    """A byte-level BPE tokenizer trained on the corpus; `eos_suffix` appends `</s>` (T5-style)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "</s>", "<unk>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS, trainer)
    if eos_suffix:
        tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", tokenizer.token_to_id("</s>"))])
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, directory: str, max_length: int = 64, **specials) -> transformers.PreTrainedTokenizerFast:
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=max_length, **specials)
    fast.save_pretrained(directory)
    return transformers.AutoTokenizer.from_pretrained(directory)


def write_images(directory: str) -> list[str]:
    """Test images of other sizes than the model's, in the modes a user's files come in."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    os.makedirs(directory, exist_ok=True)
    ys, xs = np.mgrid[0:90, 0:120]
    gradient = np.stack([xs * 2, ys * 2, (xs + ys)], axis=-1).clip(0, 255).astype(np.uint8)
    images = {
        "noise.png": Image.fromarray(rng.integers(0, 256, (61, 83, 3), dtype=np.uint8)),
        "gradient.png": Image.fromarray(gradient),
        "grey.png": Image.fromarray(rng.integers(0, 256, (40, 33), dtype=np.uint8), mode="L"),
        "alpha.png": Image.fromarray(rng.integers(0, 256, (70, 70, 4), dtype=np.uint8), mode="RGBA"),
    }
    paths = []
    for name, image in images.items():
        path = os.path.join(directory, name)
        image.save(path)
        paths.append(path)
    return paths


def write_audio(directory: str) -> list[str]:
    """Short WAV files of different lengths: a tone sweep and noise."""
    import wave

    import numpy as np

    rng = np.random.default_rng(0)
    os.makedirs(directory, exist_ok=True)
    t = np.arange(4800) / 16000
    clips = {"sweep.wav": 0.6 * np.sin(2 * np.pi * (200 + 900 * t) * t), "noise.wav": rng.uniform(-0.4, 0.4, 3200)}
    paths = []
    for name, clip in clips.items():
        path = os.path.join(directory, name)
        with wave.open(path, "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(16000)
            handle.writeframes((clip * 32767).astype("<i2").tobytes())
        paths.append(path)
    return paths


def read_wav(path: str):
    """Samples as float32 in [-1, 1): int16 / 32768, as soundfile reads them."""
    import wave

    import numpy as np

    with wave.open(path, "rb") as handle:
        return np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def make(kind: str, directory: str):
    torch.manual_seed(0)
    if kind.startswith("bert"):
        tokenizer = save_tokenizer(wordpiece(), directory, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
        config = transformers.BertConfig(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64)
        if kind == "bert-classify":
            config.num_labels = 3
            config.id2label = {0: "negative", 1: "neutral", 2: "positive"}
            config.label2id = {v: k for k, v in config.id2label.items()}
            model = transformers.BertForSequenceClassification(config)
        else:
            model = transformers.BertModel(config)
            with open(os.path.join(directory, "modules.json"), "w") as handle:
                json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                           {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                           {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}], handle)
            os.makedirs(os.path.join(directory, "1_Pooling"), exist_ok=True)
            with open(os.path.join(directory, "1_Pooling/config.json"), "w") as handle:
                json.dump({"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False}, handle)
    elif kind == "llama-long":
        # No end-of-sequence id and 512 positions: 256 new tokens always run to the end.
        tokenizer = save_tokenizer(byte_bpe(eos_suffix=False), directory, max_length=512, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
        config = transformers.LlamaConfig(vocab_size=320, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                          max_position_embeddings=512, eos_token_id=None, bos_token_id=None, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
        model = transformers.LlamaForCausalLM(config)
    elif kind in ("llama-generate", "qwen2-generate"):
        tokenizer = save_tokenizer(byte_bpe(eos_suffix=False), directory, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
        eos = tokenizer.convert_tokens_to_ids("</s>")
        config_class, model_class = (transformers.LlamaConfig, transformers.LlamaForCausalLM) if kind == "llama-generate" else (transformers.Qwen2Config, transformers.Qwen2ForCausalLM)
        config = config_class(vocab_size=320, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                              max_position_embeddings=64, eos_token_id=eos, bos_token_id=None, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
        model = model_class(config)
    elif kind == "t5-generate":
        tokenizer = save_tokenizer(byte_bpe(eos_suffix=True), directory, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
        config = transformers.T5Config(vocab_size=320, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=2, num_heads=4, relative_attention_num_buckets=8,
                                       pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.convert_tokens_to_ids("</s>"), decoder_start_token_id=tokenizer.pad_token_id)
        model = transformers.T5ForConditionalGeneration(config)
    elif kind == "vit-classify":
        tokenizer = transformers.ViTImageProcessorPil(size={"height": 64, "width": 64})
        tokenizer.save_pretrained(directory)
        config = transformers.ViTConfig(image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, num_labels=3,
                                        id2label={0: "cat", 1: "dog", 2: "fox"}, label2id={"cat": 0, "dog": 1, "fox": 2})
        model = transformers.ViTForImageClassification(config)
    elif kind == "clip-similarity":
        save_tokenizer(wordpiece(), directory, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
        tokenizer = transformers.CLIPImageProcessorPil(size={"shortest_edge": 48}, crop_size={"height": 48, "width": 48})
        tokenizer.save_pretrained(directory)
        text = dict(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64, bos_token_id=2, eos_token_id=3, pad_token_id=0)
        vision = dict(image_size=48, patch_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
        model = transformers.CLIPModel(transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=24))
    elif kind == "clap-similarity":
        save_tokenizer(wordpiece(), directory, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
        tokenizer = transformers.ClapFeatureExtractor(feature_size=16, sampling_rate=16000, hop_length=160, max_length_s=1, fft_window_size=400, frequency_min=50,
                                                      frequency_max=8000, truncation="rand_trunc", padding="repeatpad")
        tokenizer.save_pretrained(directory)
        text = dict(vocab_size=128, hidden_size=32, projection_dim=24, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
                    projection_hidden_act="relu", pad_token_id=0)
        audio = dict(spec_size=64, num_mel_bins=16, window_size=4, patch_size=2, patch_stride=2, freq_ratio=2, num_channels=3, hidden_size=32, patch_embeds_hidden_size=16,
                     projection_dim=24, depths=[2, 2], num_attention_heads=[2, 2], num_hidden_layers=2, intermediate_size=37, enable_fusion=False)
        model = transformers.ClapModel(transformers.ClapConfig(text_config=text, audio_config=audio, projection_dim=24))
    elif kind == "xclip-similarity":
        save_tokenizer(wordpiece(), directory, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
        tokenizer = transformers.VideoMAEImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
        tokenizer.save_pretrained(directory)
        text = dict(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64, pad_token_id=0)
        vision = dict(image_size=32, patch_size=8, num_frames=4, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, mit_hidden_size=64)
        model = transformers.XCLIPModel(transformers.XCLIPConfig(text_config=text, vision_config=vision, projection_dim=64))
    elif kind in ("llava-generate", "llava_next-generate"):
        nxt = kind == "llava_next-generate"
        text_tokenizer = byte_bpe(eos_suffix=False)
        text_tokenizer.add_special_tokens(["<image>"])
        text_tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=text_tokenizer, model_max_length=256 if nxt else 64, pad_token="<pad>", eos_token="</s>",
                                                            unk_token="<unk>", extra_special_tokens={"image_token": "<image>"})
        tile = 16 if nxt else 32
        pinpoints = [[16, 32], [32, 16], [32, 32]]
        if nxt:
            images = transformers.LlavaNextImageProcessorPil(size={"shortest_edge": tile}, crop_size={"height": tile, "width": tile}, image_grid_pinpoints=pinpoints)
            processor_class = transformers.LlavaNextProcessor
        else:
            images = transformers.CLIPImageProcessorPil(size={"shortest_edge": tile}, crop_size={"height": tile, "width": tile})
            processor_class = transformers.LlavaProcessor
        patch = 4 if nxt else 8
        tokenizer = processor_class(image_processor=images, tokenizer=text_tokenizer, patch_size=patch, vision_feature_select_strategy="default", num_additional_image_tokens=1)
        tokenizer.save_pretrained(directory)
        image_token = text_tokenizer.convert_tokens_to_ids("<image>")
        text = dict(model_type="llama", vocab_size=320, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=37,
                    max_position_embeddings=256 if nxt else 64, pad_token_id=text_tokenizer.pad_token_id, eos_token_id=text_tokenizer.eos_token_id,
                    bos_token_id=text_tokenizer.eos_token_id)
        vision = dict(model_type="clip_vision_model", image_size=tile, patch_size=patch, hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=37)
        common = dict(text_config=text, vision_config=vision, image_token_index=image_token, projector_hidden_act="gelu", vision_feature_select_strategy="default",
                      vision_feature_layer=-1)
        if nxt:
            model = transformers.LlavaNextForConditionalGeneration(transformers.LlavaNextConfig(image_grid_pinpoints=pinpoints, **common))
        else:
            model = transformers.LlavaForConditionalGeneration(transformers.LlavaConfig(image_seq_length=16, **common))
        with torch.no_grad():  # at the initial scale the text ignores the image; tenfold, images give other text
            for parameter in model.model.multi_modal_projector.parameters():
                parameter.mul_(10)
        model.generation_config.eos_token_id = text_tokenizer.eos_token_id
        model.generation_config.pad_token_id = text_tokenizer.pad_token_id
    elif kind == "detr-detect":
        tokenizer = transformers.DetrImageProcessorPil(size={"shortest_edge": 48, "longest_edge": 80})
        tokenizer.save_pretrained(directory)
        backbone = transformers.ResNetConfig(num_channels=3, embeddings_size=10, hidden_sizes=[10, 20, 30, 40], depths=[1, 1, 2, 1], hidden_act="relu",
                                             out_features=["stage2", "stage3", "stage4"], out_indices=[2, 3, 4])
        config = transformers.DetrConfig(use_timm_backbone=False, use_pretrained_backbone=False, backbone=None, backbone_config=backbone, d_model=32, encoder_layers=2,
                                         decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, num_queries=12,
                                         num_labels=3, id2label={0: "cat", 1: "dog", 2: "fox"}, label2id={"cat": 0, "dog": 1, "fox": 2},
                                         init_std=0.2)  # at 0.02 every query scores alike to 1e-6
        model = transformers.DetrForObjectDetection(config)
    elif kind.startswith("wav2vec2"):
        tokenizer = transformers.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False)
        tokenizer.save_pretrained(directory)
        config = transformers.Wav2Vec2Config(conv_bias=False, conv_dim=[32, 32, 32], conv_kernel=[8, 8, 8], conv_stride=[4, 4, 4], feat_extract_norm="group", hidden_size=16,
                                             intermediate_size=20, num_attention_heads=2, num_conv_pos_embedding_groups=2, num_conv_pos_embeddings=16, num_feat_extract_layers=3,
                                             num_hidden_layers=2, vocab_size=32, pad_token_id=0)
        if kind == "wav2vec2-ctc":
            vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4} | {chr(ord("a") + i): 5 + i for i in range(26)} | {"'": 31}
            with open(os.path.join(directory, "vocab.json"), "w") as handle:
                json.dump(vocab, handle)
            transformers.Wav2Vec2CTCTokenizer(os.path.join(directory, "vocab.json")).save_pretrained(directory)
            model = transformers.Wav2Vec2ForCTC(config)
        else:
            config.num_labels = 3
            config.id2label = {0: "speech", 1: "music", 2: "noise"}
            config.label2id = {v: k for k, v in config.id2label.items()}
            model = transformers.Wav2Vec2ForSequenceClassification(config)
    elif kind == "whisper-transcribe":
        text_tokenizer = save_tokenizer(byte_bpe(eos_suffix=False), directory, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
        tokenizer = transformers.WhisperFeatureExtractor(feature_size=16)
        tokenizer.save_pretrained(directory)
        config = transformers.WhisperConfig(vocab_size=320, d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
                                            encoder_ffn_dim=17, decoder_ffn_dim=17, num_mel_bins=16, max_source_positions=1500, max_target_positions=40,
                                            decoder_start_token_id=3, eos_token_id=text_tokenizer.eos_token_id, pad_token_id=text_tokenizer.pad_token_id,
                                            bos_token_id=text_tokenizer.eos_token_id, suppress_tokens=None, begin_suppress_tokens=None)
        model = transformers.WhisperForConditionalGeneration(config).eval()
        # Suppress what the model would say first and second, so the test sees both rules work.
        features = tokenizer(read_wav(write_audio(directory + "-audio")[0]), sampling_rate=16000, return_tensors="pt")["input_features"]
        first = model.generate(features, max_new_tokens=2, do_sample=False, num_beams=1)[0].tolist()
        model.generation_config.begin_suppress_tokens = [first[0]]
        model.generation_config.suppress_tokens = [first[1]] if first[1] != first[0] else [first[0] + 1]
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    model.eval().save_pretrained(directory)
    return tokenizer, type(model).from_pretrained(directory).eval()


def image_reference(kind: str, directory: str, processor, model, texts: list[str]) -> dict:
    """Pixel values of the PIL backend (what the Rust skill reproduces), how far the default
    (torchvision) backend is from them, and the model's results."""
    from PIL import Image

    paths = write_images(directory + "-images")
    images = [Image.open(path).convert("RGB") for path in paths]
    prepared = processor(images, return_tensors="pt")
    pixels = prepared["pixel_values"]
    default = transformers.AutoImageProcessor.from_pretrained(directory)(images, return_tensors="pt")["pixel_values"]
    expected = {"images": paths, "pixel_values": pixels.flatten().tolist(), "pixel_shape": list(pixels.shape),
                "default_backend": type(transformers.AutoImageProcessor.from_pretrained(directory)).__name__,
                "default_backend_max_diff": (default - pixels).abs().max().item()}
    with torch.no_grad():
        if kind == "detr-detect":
            mask = prepared["pixel_mask"]
            expected["pixel_mask"] = mask.flatten().tolist()
            outputs = model(pixel_values=pixels, pixel_mask=mask)
            sizes = [(image.height, image.width) for image in images]
            every = processor.post_process_object_detection(outputs, threshold=0.0, target_sizes=sizes)
            # A threshold in the middle of the widest gap between best scores: which queries pass
            # it is then no matter of rounding.
            scores = sorted(score for result in every for score in result["scores"].tolist())
            gap, threshold = max((b - a, (a + b) / 2) for a, b in zip(scores, scores[1:]))
            kept = processor.post_process_object_detection(outputs, threshold=threshold, target_sizes=sizes)
            describe = lambda results: [sorted(({"label": model.config.id2label[l], "score": s, "box": b}
                                               for s, l, b in zip(r["scores"].tolist(), r["labels"].tolist(), r["boxes"].tolist())), key=lambda d: -d["score"]) for r in results]
            expected |= {"all": describe(every), "threshold": threshold, "gap": gap, "kept": describe(kept)}
        elif kind == "vit-classify":
            scores = model(pixel_values=pixels).logits.softmax(-1)
            expected["labels"] = [[model.config.id2label[i] for i in row.argsort(descending=True).tolist()] for row in scores]
            expected["scores"] = [sorted(row.tolist(), reverse=True) for row in scores]
        else:
            tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
            encoded = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
            logits = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"], pixel_values=pixels).logits_per_image
            expected["logits"] = logits.tolist()
            expected["best"] = [texts[i] for i in logits.softmax(-1).argmax(-1).tolist()]
    return expected


def write_videos(directory: str, frames: int) -> list[str]:
    """Two videos as folders of PNG frames: a gradient sliding right, and noise; frames of
    another size than the model's."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    ys, xs = np.mgrid[0:45, 0:60]
    folders = []
    for name in ("slide", "noise"):
        folder = os.path.join(directory, name)
        os.makedirs(folder, exist_ok=True)
        for index in range(frames):
            if name == "slide":
                pixels = np.stack([(xs * 4 + index * 30) % 256, ys * 5, np.full_like(xs, 128)], axis=-1).astype(np.uint8)
            else:
                pixels = rng.integers(0, 256, (45, 60, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(os.path.join(folder, f"{index:04d}.png"))
        folders.append(folder)
    return folders


def video_reference(directory: str, processor, model, texts: list[str]) -> dict:
    """Pixel values of each video (frames in name order, the PIL backend) and
    logits_per_video against the texts."""
    from PIL import Image

    folders = write_videos(directory + "-videos", model.config.vision_config.num_frames)
    videos = [[Image.open(os.path.join(folder, name)).convert("RGB") for name in sorted(os.listdir(folder))] for folder in folders]
    pixels = processor(videos, return_tensors="pt")["pixel_values"]
    return {"videos": folders, "pixel_values": pixels.flatten().tolist(), "pixel_shape": list(pixels.shape)} | similarity(directory, model, texts, pixel_values=pixels)


def similarity(directory: str, model, texts: list[str], **items) -> dict:
    """The contrastive model's logits of each item (image, video or audio) against the texts, and
    the best text of each."""
    encoded = transformers.AutoTokenizer.from_pretrained(directory)(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        output = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"], **items)
    logits = next(getattr(output, name) for name in ("logits_per_image", "logits_per_video", "logits_per_audio") if getattr(output, name, None) is not None)
    return {"logits": logits.tolist(), "best": [texts[i] for i in logits.softmax(-1).argmax(-1).tolist()]}


def llava_reference(directory: str, processor, model, texts: list[str]) -> dict:
    """Greedy text of each prompt with its image, the prompt holding `<image>` once; and the
    token ids the processor gives it (the placeholder expanded)."""
    from PIL import Image

    # One question about two images: the text differs only if the image reaches the model.
    paths = write_images(directory + "-images")[:2]
    prompts = [f"USER: <image>\n{texts[0]} ASSISTANT:"] * 2
    expected = {"images": paths, "prompts": prompts, "input_ids": [], "generated": [], "max_new_tokens": MAX_NEW_TOKENS}
    eos = model.generation_config.eos_token_id
    for prompt, path in zip(prompts, paths):
        inputs = processor(images=[Image.open(path).convert("RGB")], text=[prompt], return_tensors="pt")
        expected["input_ids"].append(inputs["input_ids"][0].tolist())
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, num_beams=1)
        tokens = out[0, inputs["input_ids"].shape[1]:].tolist()
        if eos in tokens:
            tokens = tokens[: tokens.index(eos) + 1]
        expected["generated"].append({"tokens": tokens, "text": processor.tokenizer.decode([t for t in tokens if t != eos], skip_special_tokens=True)})
    assert expected["generated"][0] != expected["generated"][1], "the two images should give two texts"
    return expected


def audio_reference(kind: str, directory: str, extractor, model, texts: list[str]) -> dict:
    """Input values of the feature extractor (padded batch), and the model's results."""
    paths = write_audio(directory + "-audio")
    waves = [read_wav(path) for path in paths]
    if kind == "clap-similarity":
        features = extractor(waves, sampling_rate=16000, return_tensors="pt")["input_features"]
        return {"audio": paths, "input_features": features.flatten().tolist(), "features_shape": list(features.shape)} | similarity(directory, model, texts, input_features=features)
    if kind == "whisper-transcribe":
        tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
        eos = model.config.eos_token_id
        features = [extractor(w, sampling_rate=16000, return_tensors="pt")["input_features"] for w in waves]
        expected = {"audio": paths, "input_features": torch.cat(features).flatten().tolist(), "features_shape": [len(waves)] + list(features[0].shape[1:]), "generated": [], "max_new_tokens": MAX_NEW_TOKENS}
        for single in features:
            tokens = model.generate(single, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, num_beams=1)[0].tolist()
            tokens = tokens[: tokens.index(eos) + 1] if eos in tokens else tokens
            expected["generated"].append({"tokens": tokens, "text": tokenizer.decode([t for t in tokens if t != eos], skip_special_tokens=True)})
        expected["suppressed"] = {"begin": model.generation_config.begin_suppress_tokens, "always": model.generation_config.suppress_tokens}
        return expected
    values = extractor(waves, sampling_rate=16000, padding=True, return_tensors="pt")["input_values"]
    expected = {"audio": paths, "input_values": values.flatten().tolist(), "input_shape": list(values.shape)}
    with torch.no_grad():
        if kind == "wav2vec2-ctc":
            tokenizer = transformers.Wav2Vec2CTCTokenizer.from_pretrained(directory)
            texts = []
            for wave_values in waves:  # one at a time, as the skill runs them
                single = extractor([wave_values], sampling_rate=16000, return_tensors="pt")["input_values"]
                texts.append(tokenizer.decode(model(single).logits.argmax(-1)[0].tolist()))
            expected["texts"] = texts
        else:
            scores = model(values).logits.softmax(-1)
            expected["labels"] = [[model.config.id2label[i] for i in row.argsort(descending=True).tolist()] for row in scores]
            expected["scores"] = [sorted(row.tolist(), reverse=True) for row in scores]
    return expected


def main() -> None:
    kind, directory, texts = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(directory, exist_ok=True)
    tokenizer, model = make(kind, directory)
    if kind == "xclip-similarity":
        json.dump(video_reference(directory, tokenizer, model, texts), sys.stdout)
        return
    if kind in ("llava-generate", "llava_next-generate"):
        json.dump(llava_reference(directory, tokenizer, model, texts), sys.stdout)
        return
    if kind in ("vit-classify", "clip-similarity", "detr-detect"):
        json.dump(image_reference(kind, directory, tokenizer, model, texts), sys.stdout)
        return
    if kind.startswith("wav2vec2") or kind.startswith("whisper") or kind == "clap-similarity":
        json.dump(audio_reference(kind, directory, tokenizer, model, texts), sys.stdout)
        return
    encoded = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    expected = {"input_ids": encoded["input_ids"].tolist(), "attention_mask": encoded["attention_mask"].tolist()}
    with torch.no_grad():
        if kind == "bert-embed":
            states = model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).float()
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            expected["vectors"] = torch.nn.functional.normalize(pooled, p=2, dim=1).tolist()
        elif kind == "bert-classify":
            scores = model(**encoded).logits.softmax(-1)
            expected["labels"] = [[model.config.id2label[i] for i in row.argsort(descending=True).tolist()] for row in scores]
            expected["scores"] = [sorted(row.tolist(), reverse=True) for row in scores]
        else:
            generated = []
            new_tokens = LONG_NEW_TOKENS if kind == "llama-long" else MAX_NEW_TOKENS
            for text in texts:
                single = tokenizer([text], return_tensors="pt")
                out = model.generate(**single, max_new_tokens=new_tokens, do_sample=False, num_beams=1)
                new = out[0] if model.config.is_encoder_decoder else out[0, single["input_ids"].shape[1]:]
                new = new[1:] if model.config.is_encoder_decoder else new  # the decoder's start token
                tokens = new.tolist()
                eos = model.config.eos_token_id
                if eos in tokens:
                    tokens = tokens[: tokens.index(eos) + 1]
                generated.append({"tokens": tokens, "text": tokenizer.decode([t for t in tokens if t != eos], skip_special_tokens=True)})
            expected["generated"] = generated
            expected["max_new_tokens"] = new_tokens
    json.dump(expected, sys.stdout)


if __name__ == "__main__":
    main()
