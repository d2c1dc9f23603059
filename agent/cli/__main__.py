"""``python -m matterloop.agent.cli``: the ``matterloop`` command."""

import sys

from matterloop.agent.cli.main import main

sys.exit(main())
