"""Models: open_clip architectures plus cyclip's own small configs, registered with open_clip.

cyclip does not define its own network. Every model is an ``open_clip.CLIP`` (or subclass) whose
forward returns ``{"image_features", "text_features", "logit_scale"}`` with normalised features and
an exponentiated scale, so open_clip models drop into cyclip and cyclip checkpoints load in
open_clip. Importing this package registers cyclip's configs with open_clip.
"""

from cyclip.models.factory import (
    MODEL_CONFIG_DIR,
    ModelBundle,
    create_model,
    list_models,
    register_model_configs,
)
from cyclip.models.hf_text import text_tower_kwargs

# Like timm's registries: importing the package makes our configs buildable by open_clip itself.
register_model_configs()

__all__ = [
    "MODEL_CONFIG_DIR",
    "ModelBundle",
    "create_model",
    "list_models",
    "register_model_configs",
    "text_tower_kwargs",
]
