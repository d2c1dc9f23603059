"""``matterloop ui``: the MLflow UI of a campaign's own tracking store, on this machine only.

The UI serves the store read *and write* without authentication, so it listens on the loopback
address 127.0.0.1 unless ``--host`` says otherwise (with a warning). From another machine, reach it
through an SSH tunnel (``ssh -L 5000:127.0.0.1:5000 host``) rather than binding it to the network.
"""

from __future__ import annotations

import argparse
import ipaddress
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from matterloop.agent.cli.arguments import positive_int
from matterloop.data import DataError

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 5000
LOCAL_STORE_SCHEME = "sqlite:///"


def register(subparsers: argparse._SubParsersAction) -> None:
    ui = subparsers.add_parser(
        "ui",
        help="browse a campaign's MLflow store (on 127.0.0.1)",
        description="Start the MLflow UI on the campaign's own tracking store (by default "
        "<directory>/mlruns/mlflow.db), listening on 127.0.0.1 only, and print its URL. "
        "Stop it with Ctrl-C.",
    )
    ui.add_argument("directory", type=Path, help="campaign directory")
    ui.add_argument("--port", type=positive_int, default=DEFAULT_PORT, help="default 5000")
    ui.add_argument(
        "--host",
        default=LOOPBACK,
        help="address to listen on (default 127.0.0.1; another address exposes the store, "
        "unauthenticated, to the network)",
    )
    ui.set_defaults(handler=run_ui)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP address or ``localhost``) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def mlflow_ui_command(backend_store_uri: str, host: str, port: int) -> list[str]:
    """The ``mlflow ui`` command line serving ``backend_store_uri`` on ``host:port``."""
    return [
        sys.executable, "-m", "mlflow", "ui",
        "--backend-store-uri", backend_store_uri,
        "--host", host,
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip


def run_ui(args: argparse.Namespace) -> int:
    from matterloop.agent.campaign.tracking import campaign_tracking_uri
    from matterloop.agent.cli.campaign import stored_config

    console = Console()
    error_console = Console(stderr=True)
    config = stored_config(args.directory)
    uri = campaign_tracking_uri(config)
    if not uri.startswith(LOCAL_STORE_SCHEME):
        raise DataError(
            f"{args.directory}: the campaign logs to the tracking server {uri}, not to a store "
            "in its directory; open that server's UI instead"
        )
    if not is_loopback(args.host):
        error_console.print(
            f"[bold yellow]warning:[/] listening on {args.host}: anyone who can reach this "
            "machine can read and change the campaign's MLflow runs (no authentication)",
            highlight=False,
            soft_wrap=True,
        )
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    console.print(
        f"MLflow UI of campaign {config.name} ({uri}): http://{shown_host}:{args.port}/ "
        "(Ctrl-C stops it)",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    server = subprocess.Popen(mlflow_ui_command(uri, args.host, args.port))
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        server.wait()
        raise
