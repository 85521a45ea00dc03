"""What a running server holds: the admitted models with their batchers, and its life-cycle flags."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping

from .backends import Capabilities
from .batching import MicroBatcher
from .config import ServeConfig
from .guard import Admitted
from .metrics import ServeMetrics

OVERRIDE_HEADER = "X-Stcompat-Override"


@dataclass(frozen=True)
class ServedModel:
    """One model behind the endpoints."""

    name: str
    """The name clients send."""
    admitted: Admitted
    """The guard's findings and the loaded instances."""
    batcher: MicroBatcher
    """Its queue and worker threads."""

    @property
    def capabilities(self) -> Capabilities:
        """What the model offers (every instance is the same model)."""
        return self.admitted.instances[0].capabilities


@dataclass
class ServerState:
    """Shared by the app's handlers; mutable only in its life-cycle flags."""

    config: ServeConfig
    """What was asked for."""
    models: Mapping[str, ServedModel]
    """By name, in the order given."""
    metrics: ServeMetrics
    """The Prometheus instruments."""
    running: Mapping[str, str]
    """Versions of the packages that compute the embeddings here."""
    started: float = field(default_factory=time.time)
    """Unix time the guard admitted the models."""
    ready: bool = False
    """True between start-up (batchers running) and the start of shutdown."""
    draining: bool = False
    """Shutdown has begun: in-flight requests finish, readiness says no."""

    @property
    def overridden(self) -> dict[str, tuple[str, ...]]:
        """Models started over a refusal, with the refusal codes."""
        return {n: m.admitted.admission.overridden for n, m in self.models.items() if m.admitted.admission.overridden}

    def override_header(self) -> str | None:
        """The X-Stcompat-Override value (None when no refusal was overridden)."""
        over = self.overridden
        if not over:
            return None
        return "allow-unsafe; " + ", ".join(f"{n}={'+'.join(codes)}" for n, codes in over.items())
