"""``syncd sim VENDOR``: run a PMS API simulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from syncd.cli.common import EXIT_OK, Subparsers, UsageError, parse_credentials, until_signal
from syncd.settings import Settings
from syncd.sim.registry import simulated_vendors


def add_parsers(sub: Subparsers) -> None:
    """Add a ``sim`` subcommand per simulated PMS to the main parser."""
    sim = sub.add_parser("sim", help="run a PMS simulator").add_subparsers(
        dest="sim_vendor", required=True
    )
    for vendor in simulated_vendors():
        vsim = sim.add_parser(vendor.lower(), help=f"a {vendor.lower()} API simulator")
        vsim.add_argument("--host", default="127.0.0.1")
        vsim.add_argument("--port", type=int, default=0, help="0 = any free port")
        vsim.add_argument("--seed", type=int, default=0)
        vsim.add_argument("--scale", type=int, default=100, help="units to simulate")
        vsim.add_argument("--credential", action="append", default=[], metavar="KEY=VALUE")
        vsim.add_argument(
            "--rate-limit",
            type=float,
            default=None,
            help="requests/second before 429 (0 = off; default: the PMS's documented limit)",
        )


async def cmd_sim(args: argparse.Namespace, settings: Settings) -> int:
    """Serve a simulator; print its base URL and credentials (one per line) once it listens."""
    # The simulator's server loads only for `sim`: other commands start faster.
    from syncd.sim.registry import get_renderer
    from syncd.sim.server import Simulator, serve_forever

    creds = parse_credentials(args.credential) or None
    try:
        sim = Simulator(
            get_renderer(args.sim_vendor),
            seed=args.seed,
            scale=args.scale,
            credentials=creds,
            rate_limit=args.rate_limit,
        )
    except ValueError as exc:
        raise UsageError(f"--credential: {exc}") from None

    def ready(url: str, credentials: Mapping[str, str]) -> None:
        print(f"base_url={url}", flush=True)
        for key, value in credentials.items():
            print(f"credential {key}={value}", flush=True)

    await until_signal(lambda: serve_forever(sim, host=args.host, port=args.port, on_ready=ready))
    return EXIT_OK
