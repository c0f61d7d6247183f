"""Run one agent as its own process.

    python -m controllers.agent --broker URL --run RUN --agent ID --kind KIND [--param NAME=VALUE ...]
    python -m controllers.agent ... --params-stdin < params.json

Agent parameters are given as repeated `--param name=value` (numbers are parsed as floats,
`none` as None) or, with `--params-stdin`, as one JSON object on standard input (any JSON types,
nested mappings included; `--param` values override its keys). The process ends on a final clock
message, SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from controllers.messages import Codec
from controllers.runtime.agent import AgentRunner
from controllers.runtime.broker_url import BrokerUrlError, parse_broker_url
from controllers.runtime.identity import ClientSecurity
from controllers.runtime.registry import agent_kinds, create_agent
from controllers.topics import BRIDGE_ID, DEFAULT_PREFIX, TopicError


def _param(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--param {text!r}: expected name=value")
    if raw.lower() in ("none", "null"):
        return name, None
    try:
        return name, float(raw)
    except ValueError:
        return name, raw


def _stdin_params(secured: bool = False) -> tuple[dict[str, Any], ClientSecurity | None]:
    """The parameters on standard input and, with `secured` (`--security-stdin`), the agent's login
    and keys: `{"params": {...}, "security": {...}}`."""
    try:
        params = json.loads(sys.stdin.read() or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"--params-stdin: standard input is not JSON ({exc})") from None
    if not isinstance(params, dict):
        raise ValueError(f"--params-stdin: expected a JSON object, got {type(params).__name__}")
    if not secured:
        return params, None
    return dict(params.get("params", {})), ClientSecurity.from_json(params["security"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m controllers.agent",
                                     description="Run one agent as its own process.")
    parser.add_argument("--broker", required=True, help="mqtt://host:port or mqtts://host:port")
    parser.add_argument("--run", required=True, help="run id")
    parser.add_argument("--agent", required=True, help="agent id (publishes only under this name)")
    parser.add_argument("--kind", required=True, help=f"agent kind; registered: {', '.join(agent_kinds())}")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"topic prefix (default {DEFAULT_PREFIX})")
    parser.add_argument("--bridge", default=BRIDGE_ID, help=f"bridge id (default {BRIDGE_ID})")
    parser.add_argument("--qos", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument("--codec", choices=[c.value for c in Codec], default=Codec.JSON.value)
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--ca-file")
    parser.add_argument("--param", action="append", type=_param, default=[], metavar="NAME=VALUE")
    parser.add_argument("--params-stdin", action="store_true",
                        help="read the agent's parameters as one JSON object from standard input")
    parser.add_argument("--security-stdin", action="store_true",
                        help="a secured run: standard input holds {\"params\": {...}, \"security\": {...}} "
                        "(the agent's login and keys; docs/security.md)")
    parser.add_argument("--log-level", default="WARNING")
    return parser


async def serve(runner: AgentRunner) -> None:
    """Run `runner` until it ends on its own or the process gets SIGINT/SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(runner.run())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        await runner.shutdown()
        await task
    stopper.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        url = parse_broker_url(args.broker, username=args.username, password=args.password,
                               ca_file=args.ca_file)
        params, security = _stdin_params(args.security_stdin) if args.params_stdin else ({}, None)
        agent = create_agent(args.kind, args.agent, **{**params, **dict(args.param)})
        middleware = () if security is None else (security.middleware(args.codec),)
        runner = AgentRunner(agent, url if security is None else security.broker_url(url), args.run,
                             prefix=args.prefix, bridge=args.bridge, qos=args.qos, codec=Codec(args.codec),
                             middleware=middleware)
    except (BrokerUrlError, TopicError, KeyError, ImportError, TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(runner))
    return 0


if __name__ == "__main__":
    sys.exit(main())
