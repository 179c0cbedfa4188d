"""The Dialroom agent worker: joins LiveKit rooms and talks to callers as a persona."""
