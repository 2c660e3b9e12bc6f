"""The live event stream: per-process fan-out hub, board snapshots and the websocket route."""
