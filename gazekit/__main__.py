import sys

from gazekit.cli import main

sys.exit(main())
