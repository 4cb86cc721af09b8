"""Speech recognisers behind one small interface.

An `Engine` makes one `Recognizer` per utterance (one speaker, from the voice gate's
opening to its closing). A recogniser is fed 16 kHz mono int16 PCM as it arrives, may
return a partial text at any time, and returns the final text when the utterance ends.

- `pocketsphinx` (default): true streaming; its en-US acoustic model, dictionary and
  language model ship inside the PyPI wheel, so nothing is downloaded at run time.
- `whisper`: faster-whisper (CTranslate2) with a model directory on disk
  (`TOWNHALL_CAPTIONS_MODEL`), transcribing each utterance when it ends (partials are
  not produced).

A third engine needs a class with `name`, `languages` and `recognizer(language)`, and a
line in `ENGINES`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

RATE = 16_000  # what every engine is fed


class EngineError(Exception):
    """The engine cannot be used (not installed, model missing or unreadable)."""


class Recognizer(Protocol):
    def accept(self, pcm: bytes) -> str | None:
        """Feed 16 kHz int16 PCM; returns a new partial text, or None."""
        ...

    def finish(self) -> str:
        """The utterance ended: its final text (may be empty)."""
        ...


class Engine(Protocol):
    name: str

    @property
    def languages(self) -> frozenset[str]:
        """ISO 639-1 codes this engine (with its model) recognises."""
        ...

    def recognizer(self, language: str) -> Recognizer: ...


PARTIAL_EVERY = 0.5  # seconds of audio between two partial results


class _SphinxRecognizer:
    def __init__(self, decoder: object, release: Callable[[object], None]) -> None:
        self._decoder = decoder
        self._release = release
        self._fed = 0
        self._next_partial = int(PARTIAL_EVERY * RATE)
        self._last = ""
        decoder.start_utt()  # type: ignore[attr-defined]

    def accept(self, pcm: bytes) -> str | None:
        self._decoder.process_raw(pcm, False, False)  # type: ignore[attr-defined]
        self._fed += len(pcm) // 2
        if self._fed < self._next_partial:
            return None
        self._next_partial = self._fed + int(PARTIAL_EVERY * RATE)
        hyp = self._decoder.hyp()  # type: ignore[attr-defined]
        text = hyp.hypstr if hyp is not None else ""
        if text and text != self._last:
            self._last = text
            return text
        return None

    def finish(self) -> str:
        self._decoder.end_utt()  # type: ignore[attr-defined]
        hyp = self._decoder.hyp()  # type: ignore[attr-defined]
        self._release(self._decoder)
        return hyp.hypstr if hyp is not None else ""


class PocketSphinxEngine:
    """CMU PocketSphinx 5 with the US English model its wheel carries."""

    name = "pocketsphinx"

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:  # pragma: no cover - it is a dependency
            raise EngineError(f"pocketsphinx is not installed ({exc})") from exc

        # No second (flat-lexicon) pass: a quarter less CPU, the same words on read speech.
        def make() -> object:
            return Decoder(samprate=RATE, loglevel="FATAL", fwdflat=False)

        self._make: Callable[[], object] = make
        # Decoders are reused utterance after utterance (loading one takes ~0.5 s of CPU);
        # speakers talking at once each get one of their own.
        self._free: list[object] = [self._make()]

    @property
    def languages(self) -> frozenset[str]:
        return frozenset({"en"})

    def recognizer(self, language: str) -> Recognizer:
        if language not in self.languages:
            raise EngineError(f"pocketsphinx has no model for {language!r}")
        decoder = self._free.pop() if self._free else self._make()
        return _SphinxRecognizer(decoder, self._free.append)


MAX_WHISPER_SECONDS = 30  # whisper's window; longer utterances are cut by the gate anyway


class _WhisperRecognizer:
    def __init__(self, model: object, language: str) -> None:
        self._model = model
        self._language = language
        self._chunks: list[bytes] = []

    def accept(self, pcm: bytes) -> str | None:
        self._chunks.append(pcm)
        return None

    def finish(self) -> str:
        audio = np.frombuffer(b"".join(self._chunks), dtype=np.int16)[: MAX_WHISPER_SECONDS * RATE]
        self._chunks = []
        if audio.size < RATE // 10:
            return ""
        segments, _info = self._model.transcribe(  # type: ignore[attr-defined]
            audio.astype(np.float32) / 32768.0,
            language=self._language,
            beam_size=1,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segments).strip()


class WhisperEngine:
    """faster-whisper with a CTranslate2 Whisper model from disk, per utterance."""

    name = "whisper"

    def __init__(self, model_path: Path | None, threads: int = 1) -> None:
        if model_path is None or not str(model_path):
            raise EngineError(
                "the whisper engine needs TOWNHALL_CAPTIONS_MODEL (a model directory)"
            )
        if not (model_path / "model.bin").exists():
            raise EngineError(f"no faster-whisper model in {model_path} (model.bin is missing)")
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise EngineError(
                "the whisper engine needs faster-whisper (pip install 'townhall[whisper]')"
            ) from exc
        self._model = WhisperModel(
            str(model_path), device="cpu", compute_type="int8", cpu_threads=threads
        )
        tokenizer_languages = getattr(self._model, "supported_languages", None) or ["en"]
        multilingual = bool(getattr(self._model.model, "is_multilingual", False))
        self._languages = frozenset(tokenizer_languages if multilingual else ["en"])

    @property
    def languages(self) -> frozenset[str]:
        return self._languages

    def recognizer(self, language: str) -> Recognizer:
        if language not in self._languages:
            raise EngineError(f"this whisper model has no {language!r}")
        return _WhisperRecognizer(self._model, language)


ENGINES: dict[str, Callable[[Path | None], Engine]] = {
    "pocketsphinx": lambda _model: PocketSphinxEngine(),
    "whisper": lambda model: WhisperEngine(model),
}

STATIC_LANGUAGES: dict[str, frozenset[str]] = {"pocketsphinx": frozenset({"en"})}
"""What an engine recognises, known without loading it (None: ask the worker)."""


def create_engine(name: str, model: Path | None = None) -> Engine:
    factory = ENGINES.get(name)
    if factory is None:
        raise EngineError(f"unknown captions engine {name!r} (one of: {', '.join(ENGINES)})")
    return factory(model)


class Downsampler:
    """48 kHz -> 16 kHz int16, streaming: a windowed-sinc low-pass, then every third sample."""

    TAPS = 63

    def __init__(self) -> None:
        n = np.arange(self.TAPS) - (self.TAPS - 1) / 2
        cutoff = 7_200 / 48_000
        kernel = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(self.TAPS)
        self._kernel = (kernel / kernel.sum()).astype(np.float32)
        self._history = np.zeros(self.TAPS - 1, dtype=np.float32)
        self._phase = 0

    def process(self, pcm48: bytes) -> bytes:
        x = np.frombuffer(pcm48, dtype=np.int16).astype(np.float32)
        joined = np.concatenate([self._history, x])
        filtered = np.convolve(joined, self._kernel, mode="valid")
        self._history = joined[-(self.TAPS - 1) :]
        out = filtered[self._phase :: 3]
        self._phase = (self._phase - len(filtered)) % 3
        return np.clip(np.round(out), -32768, 32767).astype(np.int16).tobytes()
