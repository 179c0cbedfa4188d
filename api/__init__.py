"""The Dialroom HTTP API: places outbound calls and reports on calls."""
