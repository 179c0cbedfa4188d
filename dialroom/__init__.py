"""Shared pieces of Dialroom that the worker, the API and start.py all need.

Imports neither `worker` nor `api`: they depend on it, never the other way round.
"""
