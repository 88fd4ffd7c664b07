import sys

from fastctr.cli.commands import main

sys.exit(main())
