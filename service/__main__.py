"""`python -m service`: serve with settings from the environment (prefix BGREMOVE_)."""

from __future__ import annotations

import logging
import signal
import sys

import uvicorn

from service.app import create_app
from service.config import Settings
from service.http_protocol import json_error_protocol


def main() -> None:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # uvicorn handles SIGTERM itself (stop accepting, finish in-flight, run the lifespan drain), then
    # re-raises the signal once it is done, which would make a clean drain exit with -15. The
    # handler below, restored by uvicorn after serving, turns that re-raise into exit status 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # Unparseable requests get the API's JSON 400, not text/plain; a head that does not arrive
        # within the header timeout gets a JSON 408 and the connection closed.
        http=json_error_protocol(settings.header_timeout_s),
        timeout_keep_alive=max(1, round(settings.keep_alive_timeout_s)),
        # On SIGTERM uvicorn stops accepting, lets in-flight requests finish, then runs the
        # lifespan's drain; bound the wait by the same drain budget.
        timeout_graceful_shutdown=int(settings.drain_timeout_s) + 1,
    )


if __name__ == "__main__":
    main()
