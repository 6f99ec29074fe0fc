"""`gateway serve` with no config and no credentials: every vendor's simulated model is
reachable through both client APIs (the simulator is mounted in the gateway itself)."""

from __future__ import annotations

from pathlib import Path

import anthropic
import openai

from tests.servers import ServerProcess, free_port

FAST = "hi [sim ttft_ms=0 tps=0 tokens=3]"


def test_offline_demo_serves_claude_and_gemini_on_both_apis(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(
        ["serve", "--port", str(port)], port, tmp_path / "serve.log", cwd=tmp_path, clean_env=True
    )
    try:
        server.wait_ready("/readyz")
        oai = openai.OpenAI(base_url=f"{server.url}/v1", api_key="any", max_retries=0)
        claude = anthropic.Anthropic(base_url=server.url, api_key="any", max_retries=0)
        assert {"sim-gpt", "sim-claude", "sim-gemini"} <= {m.id for m in oai.models.list()}
        for model in ("sim-gpt", "sim-claude", "sim-gemini"):
            reply = oai.chat.completions.create(
                model=model, messages=[{"role": "user", "content": FAST}]
            )
            assert len(reply.choices[0].message.content.split()) == 3, model
            with claude.messages.stream(
                model=model, max_tokens=20, messages=[{"role": "user", "content": FAST}]
            ) as s:
                assert len("".join(s.text_stream).split()) == 3, model
    finally:
        server.stop()
    assert "sim-claude" in server.output() and "Traceback" not in server.output()
