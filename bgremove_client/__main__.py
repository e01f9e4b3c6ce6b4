"""`python -m bgremove_client`: see `bgremove_client.cli`."""

from bgremove_client.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
