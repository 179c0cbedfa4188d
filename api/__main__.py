"""`python -m api`: check the settings (one line on a mistake), then serve the API."""

from __future__ import annotations

import sys

import uvicorn

from api.main import create_app
from api.settings import ApiSettings
from dialroom.settings import configure_logging, settings_or_exit


def main() -> int:
    settings = settings_or_exit(ApiSettings)
    app = settings_or_exit(lambda: create_app(settings))
    configure_logging()
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
