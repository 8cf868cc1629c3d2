"""Stand-ins for a model and its config, built from a recorded case (the rule tests' input):
a forward with the named parameters (`name?` has a default) and a config with the given values."""

from __future__ import annotations

import inspect


class FakeConfig:
    """A config with the given attributes; `*_config` and `decoder` dicts become nested configs."""

    model_type = "fake"

    def __init__(self, values: dict | None):
        for key, value in (values or {}).items():
            nested = isinstance(value, dict) and (key.endswith("_config") or key == "decoder")
            setattr(self, key, FakeConfig(value) if nested else value)

    def to_dict(self) -> dict:
        return dict(vars(self))

    def get_text_config(self):
        return getattr(self, "text_config", None) or self


class FakeModel:
    """A model whose forward takes `params` (keyword-only; `name?` optional) and whose main input
    is `main` when given."""

    def __init__(self, params: list[str], main=None):
        def forward(**kwargs):
            raise NotImplementedError("a fake model only has a signature")

        empty = inspect.Parameter.empty
        forward.__signature__ = inspect.Signature([
            inspect.Parameter(p.rstrip("?"), inspect.Parameter.KEYWORD_ONLY, default=None if p.endswith("?") else empty)
            for p in params
        ])
        self.forward = forward
        if main is not None:
            self.main_input_name = main
