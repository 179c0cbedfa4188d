"""The dispatcher: takes queued calls off Redis and hands each to a worker as an agent dispatch.

Run as its own process, `python -m dispatcher`; the queue's design is in `dialroom.dial_queue`.
"""
