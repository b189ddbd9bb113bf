"""syncd's HTTP interface: probes, metrics and the server that carries them."""

from syncd.api.health import HttpServer, Readiness, build_app

__all__ = ["HttpServer", "Readiness", "build_app"]
