"""A simulated upstream LLM provider (OpenAI, Anthropic, Gemini shapes) for tests and benchmarks."""

from gateway.sim.app import create_sim_app
from gateway.sim.options import SimOptions

__all__ = ["SimOptions", "create_sim_app"]
