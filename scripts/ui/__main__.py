import sys

from .pictures import main

sys.exit(main())
