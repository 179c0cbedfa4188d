"""Phone-path checks: a scriptable SIP phone, the scenario file format and a runner that
calls a stack with it (`python start.py check-call`). The test suite uses the same phone."""
