"""A `StackPlan` for tests that render configs or start single services of the stack without
`start.py up`: one worker, free ports, placeholder LiveKit keys."""

from __future__ import annotations

from pathlib import Path

from stack.plan import StackPlan
from stack.ports import pick_free_ports


def plan_in(run_dir: Path, *, redis_password: str = "") -> StackPlan:
    return StackPlan(
        ports=pick_free_ports(1),
        num_agents=1,
        api_key="devkey",
        api_secret="secret",
        run_dir=run_dir,
        agent_name="dialroom",
        redis_password=redis_password,
    )
