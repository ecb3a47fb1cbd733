"""``python -m autograder.classgrade``: grade a whole class."""

import sys

from autograder.classgrade.cli import main

sys.exit(main())
