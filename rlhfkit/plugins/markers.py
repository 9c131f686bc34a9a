"""The pluggy marker pair of the "rlhfkit" project (as pytest and datasette use pluggy)."""

import pluggy

PROJECT_NAME = "rlhfkit"
ENTRY_POINT_GROUP = "rlhfkit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
