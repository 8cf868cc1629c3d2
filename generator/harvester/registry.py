"""What transformers' own registries say about each model type.

Read from the auto mappings of the pinned transformers, never guessed from names:
  * config class: `CONFIG_MAPPING_NAMES`;
  * model class: the base model of `MODEL_MAPPING_NAMES`; else the first head class in
    TASK_PRECEDENCE order; else a standalone `<Name>Model` class that transformers exports for
    the config (a tower such as `AlignTextModel`). A type with none of these is a component;
  * head classes: every class any auto model mapping names for the type;
  * family and task: the first mapping in TASK_PRECEDENCE that names the type;
  * processor kinds: which of the tokenizer / image / video / feature-extractor / processor
    auto mappings name the type.
"""

from __future__ import annotations

import transformers
from transformers.models.auto import configuration_auto, modeling_auto

# (auto mapping, family, pipeline task): the first mapping naming a type decides its family and task.
TASK_PRECEDENCE = [
    ("MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES", "speech-seq2seq", "automatic-speech-recognition"),
    ("MODEL_FOR_TIME_SERIES_PREDICTION_MAPPING_NAMES", "time-series", "time-series-forecasting"),
    ("MODEL_FOR_TIME_SERIES_CLASSIFICATION_MAPPING_NAMES", "time-series", "time-series-classification"),
    ("MODEL_FOR_TIME_SERIES_REGRESSION_MAPPING_NAMES", "time-series", "time-series-regression"),
    ("MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES", "multimodal", "image-text-to-text"),
    ("MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES", "multimodal", "any-to-any"),
    ("MODEL_FOR_VISUAL_QUESTION_ANSWERING_MAPPING_NAMES", "multimodal", "visual-question-answering"),
    ("MODEL_FOR_DOCUMENT_QUESTION_ANSWERING_MAPPING_NAMES", "multimodal", "document-question-answering"),
    ("MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING_NAMES", "video", "video-classification"),
    ("MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES", "vision-text", "zero-shot-image-classification"),
    ("MODEL_FOR_ZERO_SHOT_OBJECT_DETECTION_MAPPING_NAMES", "vision-text", "zero-shot-object-detection"),
    ("MODEL_FOR_CTC_MAPPING_NAMES", "audio", "automatic-speech-recognition"),
    ("MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES", "audio", "audio-classification"),
    ("MODEL_FOR_AUDIO_FRAME_CLASSIFICATION_MAPPING_NAMES", "audio", "audio-frame-classification"),
    ("MODEL_FOR_AUDIO_XVECTOR_MAPPING_NAMES", "audio", "audio-xvector"),
    ("MODEL_FOR_TEXT_TO_WAVEFORM_MAPPING_NAMES", "audio", "text-to-audio"),
    ("MODEL_FOR_TEXT_TO_SPECTROGRAM_MAPPING_NAMES", "audio", "text-to-audio"),
    ("MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES", "vision", "object-detection"),
    ("MODEL_FOR_UNIVERSAL_SEGMENTATION_MAPPING_NAMES", "vision", "image-segmentation"),
    ("MODEL_FOR_INSTANCE_SEGMENTATION_MAPPING_NAMES", "vision", "image-segmentation"),
    ("MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES", "vision", "image-segmentation"),
    ("MODEL_FOR_IMAGE_SEGMENTATION_MAPPING_NAMES", "vision", "image-segmentation"),
    ("MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES", "vision", "depth-estimation"),
    ("MODEL_FOR_MASK_GENERATION_MAPPING_NAMES", "vision", "mask-generation"),
    ("MODEL_FOR_KEYPOINT_DETECTION_MAPPING_NAMES", "vision", "keypoint-detection"),
    ("MODEL_FOR_KEYPOINT_MATCHING_MAPPING_NAMES", "vision", "keypoint-matching"),
    ("MODEL_FOR_IMAGE_TO_IMAGE_MAPPING_NAMES", "vision", "image-to-image"),
    ("MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES", "vision", "image-classification"),
    ("MODEL_FOR_MASKED_IMAGE_MODELING_MAPPING_NAMES", "vision", "image-feature-extraction"),
    ("MODEL_FOR_BACKBONE_MAPPING_NAMES", "vision", "image-feature-extraction"),
    ("MODEL_FOR_IMAGE_MAPPING_NAMES", "vision", "image-feature-extraction"),
    ("MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES", "encoder-decoder", "text2text-generation"),
    ("MODEL_FOR_MASKED_LM_MAPPING_NAMES", "encoder-only", "fill-mask"),
    ("MODEL_FOR_CAUSAL_LM_MAPPING_NAMES", "decoder-only", "text-generation"),
    ("MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES", "encoder-only", "text-classification"),
    ("MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES", "encoder-only", "token-classification"),
    ("MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES", "encoder-only", "question-answering"),
    ("MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES", "encoder-only", "feature-extraction"),
]

PROCESSOR_MAPPINGS = {
    "tokenizer": ("transformers.models.auto.tokenization_auto", "TOKENIZER_MAPPING_NAMES"),
    "image_processor": ("transformers.models.auto.image_processing_auto", "IMAGE_PROCESSOR_MAPPING_NAMES"),
    "video_processor": ("transformers.models.auto.video_processing_auto", "VIDEO_PROCESSOR_MAPPING_NAMES"),
    "feature_extractor": ("transformers.models.auto.feature_extraction_auto", "FEATURE_EXTRACTOR_MAPPING_NAMES"),
    "processor": ("transformers.models.auto.processing_auto", "PROCESSOR_MAPPING_NAMES"),
}


def model_mappings() -> list[str]:
    """Every auto model mapping transformers defines, base mapping first."""
    names = sorted(n for n in dir(modeling_auto) if n.startswith("MODEL_") and n.endswith("_MAPPING_NAMES"))
    names.remove("MODEL_MAPPING_NAMES")
    return ["MODEL_MAPPING_NAMES", *names]


def _class_names(value) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)]


def processor_kinds(model_type: str) -> list[str]:
    import importlib

    kinds = []
    for kind, (module, mapping) in PROCESSOR_MAPPINGS.items():
        try:
            names = getattr(importlib.import_module(module), mapping)
        except Exception:  # a missing auto module is simply not a kind this release has
            continue
        if model_type in names and names[model_type]:
            kinds.append(kind)
    return kinds


def all_model_types() -> list[str]:
    return sorted(configuration_auto.CONFIG_MAPPING_NAMES)


def describe(model_type: str) -> dict:
    """Registry facts for one model type (no model is built)."""
    config_class = configuration_auto.CONFIG_MAPPING_NAMES[model_type]
    heads: list[str] = []
    for mapping in model_mappings():
        for name in _class_names(getattr(modeling_auto, mapping).get(model_type, ())):
            if name not in heads and hasattr(transformers, name):
                heads.append(name)
    family, task, head_for_task = "other", "feature-extraction", None
    for mapping, fam, tsk in TASK_PRECEDENCE:
        names = _class_names(getattr(modeling_auto, mapping, {}).get(model_type, ()))
        if names:
            family, task, head_for_task = fam, tsk, names[0]
            break
    base = _class_names(modeling_auto.MODEL_MAPPING_NAMES.get(model_type, ()))
    model_class, source = None, "component"
    if base and hasattr(transformers, base[0]):
        model_class, source = base[0], "MODEL_MAPPING_NAMES"
    elif head_for_task and hasattr(transformers, head_for_task):
        model_class, source = head_for_task, "task mapping"
    elif heads:
        model_class, source = heads[0], "auto mapping"
    elif config_class.endswith("Config") and hasattr(transformers, config_class[: -len("Config")] + "Model"):
        model_class, source = config_class[: -len("Config")] + "Model", "standalone class"
    return {
        "model_type": model_type,
        "config_class": config_class,
        "model_class": model_class,
        "model_class_source": source,
        "head_classes": [h for h in heads if h != model_class],
        "family": family,
        "task": task,
        "processors": processor_kinds(model_type),
    }
