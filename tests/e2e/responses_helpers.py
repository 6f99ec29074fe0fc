"""A gateway for the Responses API tests: the shared config plus a provider that has the
Responses API natively (`responses_api: true`, the simulator) and short background leases."""

from __future__ import annotations

from typing import Any

from tests.servers import SIM_KEY, gateway_config

NATIVE = "gpt-native"
MODELS = ["gpt-native", "gpt-test", "claude-test", "gemini-test"]  # native, then translated
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
    },
}


def responses_config(sim_url: str, **extra: Any) -> dict[str, Any]:
    config = gateway_config(sim_url, batch_lease="1.5s", batch_poll_interval="0.3s", **extra)
    config["providers"].append(
        {"name": "sim-responses", "kind": "openai", "base_url": f"{sim_url}/v1",
         "api_key": SIM_KEY, "responses_api": True, "read_timeout": "3s"}
    )
    config["models"].append(
        {"name": NATIVE, "provider": "sim-responses", "upstream_model": "sim-gpt",
         "price": {"input": 1.0, "output": 2.0}}
    )
    for provider in config["providers"]:
        provider["batch_max_wait"] = "0.3s"
    return config
