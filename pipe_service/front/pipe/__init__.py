"""The shim protocol endpoint ``/v1/pipe``: one WebSocket per chat request.

``ws`` accepts the socket, ``transport`` reads and writes frames, ``request`` maps a ``request``
frame to a turn, ``session`` runs the turn, ``render`` turns its events into frames, ``tools``
executes tool calls through the shim.
"""
