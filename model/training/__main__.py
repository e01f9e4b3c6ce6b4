import sys

from model.training.cli import main

sys.exit(main())
