"""``python -m benchmarks.mot``: see :mod:`benchmarks.mot.run`."""
import sys

from .run import main

sys.exit(main())
