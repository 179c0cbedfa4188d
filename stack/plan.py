"""What `start.py up` runs, decided once: ports, nodes, keys, the run directory, and the
addresses every Dialroom process is given (`StackPlan.child_env`).

The services (`stack.services`) and their config files (`stack.configs`) are made from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from stack.ports import HOST, NodePorts, StackPorts


@dataclass(frozen=True)
class StackPlan:
    ports: StackPorts
    num_agents: int
    api_key: str
    api_secret: str
    run_dir: Path
    agent_name: str
    dev_mode: bool = False
    dev_outbound_address: str = "127.0.0.1:5070"
    worker_drain_s: float = 60.0
    redis_password: str = ""  # required outside dev mode (start.py checks)
    # Several LiveKit nodes on their own loopback addresses (`stack.nodes`); none: one node
    # on 127.0.0.1, the services above.
    nodes: tuple[NodePorts, ...] = ()

    @property
    def livekit_url(self) -> str:
        """The (first) node's livekit-server: where SIP trunks are provisioned."""
        if self.nodes:
            return f"ws://{self.nodes[0].host}:{self.nodes[0].livekit}"
        return f"ws://{HOST}:{self.ports.livekit}"

    @property
    def entry(self) -> tuple[str, int, int]:
        """(address, SIP port, API port) of the (first) node, to print and to call."""
        if self.nodes:
            return self.nodes[0].host, self.nodes[0].sip, self.nodes[0].api
        return HOST, self.ports.sip, self.ports.api

    @property
    def redis_address(self) -> str:
        """Where Dialroom's Redis listens, to show: no password in it."""
        return f"redis://{HOST}:{self.ports.redis}/0"

    @property
    def redis_url(self) -> str:
        """What Dialroom's processes connect to: the address with the password, if any."""
        return _with_password(self.redis_address, self.redis_password)

    @property
    def livekit_redis_address(self) -> str:
        """Where LiveKit's Redis listens, to show: no password in it."""
        return f"redis://{HOST}:{self.ports.livekit_redis}/0"

    @property
    def livekit_redis_url(self) -> str:
        return _with_password(self.livekit_redis_address, self.redis_password)

    def child_env(self, livekit_url: str | None = None) -> dict[str, str]:
        """What every Dialroom process needs to find LiveKit (`livekit_url`: one node of a
        cluster) and Redis."""
        env = {
            "LIVEKIT_URL": livekit_url or self.livekit_url,
            "LIVEKIT_API_KEY": self.api_key,
            "LIVEKIT_API_SECRET": self.api_secret,
            "REDIS_URL": self.redis_url,
            "AGENT_NAME": self.agent_name,
        }
        if self.dev_mode:  # every process: webhooks and HTTP tools may reach loopback
            env["DIALROOM_DEV"] = "1"
        return env


def _with_password(address: str, password: str) -> str:
    if not password:
        return address
    return address.replace("redis://", f"redis://:{quote(password, safe='')}@", 1)
