"""distillguard: detect, attribute, counter and share intelligence on LLM distillation attacks."""

__version__ = "0.1.0"
