"""Routing: a model's deployments, the order a call tries them in, retries and fallbacks
before the first byte, cooldowns of failing deployments, and what the gateway measured."""
