"""Live captions: speech recognition in a worker process, fed per speaker by the media plane.

- `engines`: the recognisers behind one small interface (pocketsphinx by default, its
  model inside its wheel; faster-whisper when a model is on disk).
- `wire`: the length-prefixed typed messages between the server and the worker.
- `worker`: the worker process (`python -m townhall.captions.worker`).
- `gate`: the per-speaker voice-activity gate (pure logic).
- `tap`: the media plane's per-speaker frame sink that gates and queues audio.
- `supervisor`: starts the worker, restarts it when it dies, reads its results.
"""
