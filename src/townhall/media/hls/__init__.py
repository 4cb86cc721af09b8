"""Low-latency HLS of a room's full mix: AAC-LC in fragmented MP4 (CMAF) parts.

`cmaf` encodes and muxes (PyAV: AAC encoder + mp4 muxer), `playlist` renders the
LL-HLS media playlist (pure), `window` keeps the latest parts of one stream and lets
requests wait for the next one, `sink` is the room's mix sink that feeds them, `hub`
holds every space's window on this node (`relay` mirrors them through Redis).
"""
