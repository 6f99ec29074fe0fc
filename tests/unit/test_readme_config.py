"""The README's configuration example is a valid config (docs that cannot drift)."""

from __future__ import annotations

from pathlib import Path

import yaml

from gateway.config import build_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_config_example_validates() -> None:
    text = README.read_text()
    block = text[text.index("```yaml") + len("```yaml"):]
    document = yaml.safe_load(block[: block.index("```")])
    env = {"GATEWAY_ADMIN_KEY": "a", "OPENAI_API_KEY": "sk-x", "CHAT_UI_KEY": "ck"}
    settings = build_settings(document, env)
    assert settings.model("gpt-4o-mini") is not None
    assert settings.workloads[0].keys[0].get_secret_value() == "ck"
