"""config.settings with a tiny REPLAY_LIMIT: a server that answers `resume_too_old` cheaply.

For a dedicated Daphne in the browser tests (DJANGO_SETTINGS_MODULE); the setting itself
is not read from the environment.
"""

from config.settings import *  # noqa: F403

CONVENE = {**CONVENE, "REPLAY_LIMIT": 5}  # noqa: F405
