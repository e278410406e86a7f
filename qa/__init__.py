"""qa: offline-first retrieval-augmented question answering with verified citations."""

import os

# Set before any Hugging Face library is imported anywhere in the process: qa
# must never reach for a model hub, on this machine or on an air-gapped one.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
