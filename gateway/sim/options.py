"""Settings of one simulator instance; per-request directives override the timing ones."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_MODELS = ("sim-gpt", "sim-small", "sim-embed")


@dataclass(slots=True)
class SimOptions:
    """Knobs of the simulator, mirroring the `gateway sim` command-line options."""

    host: str = "127.0.0.1"
    port: int = 9100
    ttft_ms: float = 50.0
    tokens_per_second: float = 50.0
    output_tokens: int = 16
    no_stream_usage: bool = False
    require_key: str | None = None
    models: tuple[str, ...] = field(default=DEFAULT_MODELS)
    seed: int = 0
    error_rate: float = 0.0
    ping_every_ms: float = 0.0
    batch_delay_ms: float = 2000.0
    batch_fail_rate: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.models, str):
            self.models = tuple(m.strip() for m in self.models.split(",") if m.strip())
        else:
            self.models = tuple(self.models)
