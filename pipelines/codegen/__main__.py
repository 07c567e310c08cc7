"""`python -m pipelines.codegen [--check]`."""

import sys

from pipelines.codegen import main

sys.exit(main())
