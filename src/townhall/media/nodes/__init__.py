"""Media nodes: media-only processes on other machines, found and placed through Redis.

`townhall media --redis URL --advertise IP` (`node.py`) registers in Redis
(`registry.py`), answers the API nodes' offers over an authenticated TCP channel
(`auth.py`, the workers' wire protocol) and relays a space's encoded mix to the other
nodes over UDP (`relay.py`). API nodes place spaces and listeners on the registered nodes
(`placement.py`, `pool.py`).
"""
