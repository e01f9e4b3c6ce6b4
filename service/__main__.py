"""`python -m service`: serve with settings from the environment (prefix BGREMOVE_)."""

from __future__ import annotations

import logging

import uvicorn

from service.app import create_app
from service.config import Settings


def main() -> None:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # On SIGTERM uvicorn stops accepting, lets in-flight requests finish, then runs the
        # lifespan's drain; bound the wait by the same drain budget.
        timeout_graceful_shutdown=int(settings.drain_timeout_s) + 1,
    )


if __name__ == "__main__":
    main()
