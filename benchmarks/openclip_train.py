"""Run open_clip's own trainer (``open_clip_train.main``) with cyclip's model configs registered.

    python benchmarks/openclip_train.py --model cyclip-small --train-data pairs.csv ...

``register_model_configs()`` adds ``cyclip-small`` / ``cyclip-tiny`` to open_clip's registry;
everything else is open_clip_train's unchanged code and flags.
"""

from __future__ import annotations

import sys

from open_clip_train.main import main

from cyclip.models import register_model_configs

if __name__ == "__main__":
    register_model_configs()
    main(sys.argv[1:])
