"""The Dialroom API: the app and its routers."""

from __future__ import annotations

from fastapi import FastAPI

from api.routes import health

app = FastAPI(title="Dialroom", version="0.1.0")
app.include_router(health.router)
