"""``python -m autograder.classgrade``: grade a whole class."""

import sys

from autograder.classgrade.command import main

sys.exit(main())
