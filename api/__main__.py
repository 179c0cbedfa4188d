"""`python -m api`: check the settings (one line on a mistake), then serve the API."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from api.main import create_app
from api.settings import ApiSettings
from dialroom.settings import SettingsError, describe_validation_error


def main() -> int:
    try:
        settings = ApiSettings()
        app = create_app(settings)
    except ValidationError as err:
        print(f"error: bad setting: {describe_validation_error(err)}", file=sys.stderr)
        return 1
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
