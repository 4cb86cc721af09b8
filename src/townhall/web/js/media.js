// The audio link of one space: one RTCPeerConnection to the media server with one audio
// transceiver (sendrecv from the start). The mic is attached with replaceTrack while the
// user is on stage. If the connection fails, a new one is made (the server replaces the
// old one for this user); no page reload.
//
// A listener plays LL-HLS instead (hls.js, or the browser's own HLS without MSE) when the
// server says the space's WebRTC seats are full (409 webrtc_full) or when WebRTC does not
// connect within a few seconds (UDP blocked). Brought on stage, it switches to WebRTC.

import { get, post } from './api.js';
import Hls from '../vendor/hls.light.min.mjs';
import { attachHls } from './hlsplay.js';
import { Backoff } from './backoff.js';

const GATHER_TIMEOUT_MS = 5000;
const DISCONNECTED_GRACE_MS = 4000;
const WEBRTC_FALLBACK_MS = 6000; // a listener whose WebRTC has not connected by then uses HLS
const HLS_TOKEN_REFRESH_MS = 4 * 60 * 1000; // private spaces' signed URLs last 10-15 minutes
const HLS_RETRY_MS = 2000;

let iceConfig = null;

/** An AudioContext resumed in a Start click, for the room that click opens. */
let primed = null;

/** In the click that starts a space: unlock audio now, for its room to use on arrival. */
export function primeAudio() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  primed = { context: new Ctx(), spaceId: null };
  primed.context.resume().catch(() => {});
}

/** The started space's id (its room takes the primed context), or null: not started. */
export function primedFor(spaceId) {
  if (!primed) return;
  if (spaceId === null) {
    primed.context.close().catch(() => {});
    primed = null;
  } else {
    primed.spaceId = spaceId;
  }
}

/** The context a Start click unlocked for this space, if any (once). */
export function takePrimed(spaceId) {
  if (!primed || primed.spaceId !== spaceId) return null;
  const { context } = primed;
  primed = null;
  return context;
}

async function iceServers() {
  if (iceConfig) return iceConfig;
  try {
    const out = await get('/media/config');
    iceConfig = out.ice_servers;
  } catch (err) {
    if (err.status === 404) iceConfig = [];
    else throw err;
  }
  return iceConfig;
}

function waitForGathering(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener('icegatheringstatechange', check);
      clearTimeout(timer);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

export class MicError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind; // denied | missing | busy | insecure | other
  }
}

export function micErrorFrom(err) {
  const name = err && err.name;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return new MicError('insecure', 'This browser cannot use a microphone here (it needs HTTPS or localhost).');
  }
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
    return new MicError('denied', 'Microphone access was denied. Allow the microphone for this site in your browser settings, then press the mic button again.');
  }
  if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError') {
    return new MicError('missing', 'No microphone was found. Connect one and press the mic button again.');
  }
  if (name === 'NotReadableError' || name === 'TrackStartError' || name === 'AbortError') {
    return new MicError('busy', 'Your microphone could not be started. Is another app using it?');
  }
  return new MicError('other', `The microphone could not be used: ${(err && err.message) || name || 'unknown error'}`);
}

export class AudioLink extends EventTarget {
  constructor(spaceId, audioElement) {
    super();
    this.spaceId = spaceId;
    this.audio = audioElement;
    this.pc = null;
    this.sender = null;
    this.micStream = null;
    this.micTrack = null;
    this.wantMic = false;
    this.micMuted = false;
    this.closed = false;
    this.state = 'idle';
    this.backoff = new Backoff({ initialMs: 500, maximumMs: 8000 });
    this.retryTimer = null;
    this.graceTimer = null;
    this.connections = 0;
    this.generation = 0;
    this.context = null;
    this.analyser = null;
    this.source = null;
    this.remoteStream = null;
    this.stage = false; // on stage: always WebRTC
    this.mode = 'webrtc'; // or 'hls'
    this.hls = null;
    this.hlsAudio = null;
    this.hlsSource = null;
    this.hlsUrl = null;
    this.hlsTimer = null;
    this.fallbackTimer = null;
  }

  /** Must run inside a user gesture (the Join click) so that audio may play, or be given
   * the context a Start click unlocked (`takePrimed`). */
  unlockAudio(context = null) {
    if (!this.context) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      this.context = context || new Ctx();
      this.analyser = this.context.createAnalyser();
      this.analyser.fftSize = 8192;
      this.analyser.smoothingTimeConstant = 0;
    }
    if (this.context.state === 'suspended') this.context.resume();
    this.audio.muted = false;
    const p = this.audio.play();
    if (p && p.catch) p.catch(() => {});
  }

  _setState(state, detail = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, ...detail } }));
  }

  async connect() {
    if (this.closed) return;
    if (this.mode === 'hls') return this.startHls();
    clearTimeout(this.retryTimer);
    clearTimeout(this.fallbackTimer);
    clearTimeout(this.graceTimer);
    this._closePc();
    this._setState(this.connections ? 'reconnecting' : 'connecting');
    const generation = ++this.generation;
    let pc;
    try {
      const servers = await iceServers();
      if (generation !== this.generation || this.closed) return;
      pc = new RTCPeerConnection({ iceServers: servers });
      this.pc = pc;
      const transceiver = pc.addTransceiver('audio', { direction: 'sendrecv' });
      this.sender = transceiver.sender;
      if (this.wantMic && this.micTrack) await this.sender.replaceTrack(this.micTrack);
      pc.addEventListener('track', (ev) => this._onTrack(ev));
      pc.addEventListener('connectionstatechange', () => this._onConnectionState(pc));
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      await waitForGathering(pc);
      if (this.pc !== pc || this.closed) return;
      const local = pc.localDescription;
      const answer = await post(`/spaces/${encodeURIComponent(this.spaceId)}/media`, { sdp: local.sdp, type: local.type });
      if (this.pc !== pc || this.closed) return;
      await pc.setRemoteDescription(answer);
      this.connections += 1;
      this.fallbackTimer = setTimeout(() => {
        if (this.pc === pc && pc.connectionState !== 'connected' && !this.stage) this.startHls();
      }, WEBRTC_FALLBACK_MS);
    } catch (err) {
      if (generation !== this.generation) return; // superseded by a newer attempt
      this._closePc();
      if (this.closed) return;
      if (err && err.status === 409 && err.code === 'webrtc_full' && !this.stage) {
        this.startHls(err.details.hls_path || null);
        return;
      }
      if (err && (err.status === 403 || err.status === 404 || err.status === 409)) {
        this._setState('refused', { error: err });
        return;
      }
      this._setState('failed', { error: err });
      this._scheduleRetry();
    }
  }

  _onTrack(ev) {
    const stream = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
    this.remoteStream = stream;
    // WebAudio hears silence on a remote stream unless it also plays in a media element.
    this.audio.srcObject = stream;
    const p = this.audio.play();
    if (p && p.catch) p.catch(() => {});
    if (this.context) {
      if (this.source) this.source.disconnect();
      this.source = this.context.createMediaStreamSource(stream);
      this.source.connect(this.analyser);
    }
  }

  _onConnectionState(source, pc = source) {
    if (pc !== this.pc || this.closed) return;
    const s = source.connectionState;
    if (s === 'connected') {
      clearTimeout(this.graceTimer);
      clearTimeout(this.fallbackTimer);
      this.backoff.reset();
      this._setState('connected');
    } else if (s === 'failed') {
      this._setState('failed');
      this._scheduleRetry();
    } else if (s === 'disconnected') {
      this._setState('interrupted');
      clearTimeout(this.graceTimer);
      this.graceTimer = setTimeout(() => {
        if (this.pc === pc && pc.connectionState !== 'connected') this.reconnect();
      }, DISCONNECTED_GRACE_MS);
    } else if (s === 'closed') {
      this._setState('failed');
      this._scheduleRetry();
    }
  }

  _scheduleRetry() {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    const delay = this.backoff.next();
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Test hook: lose the connection as a network failure would (recovery is the real path). */
  simulateFailure() {
    if (!this.pc) return;
    const pc = this.pc;
    pc.close();
    this._onConnectionState({ connectionState: 'failed' }, pc);
  }

  /** A new connection now (after the network came back, or on request). */
  reconnect() {
    if (this.closed || this.mode === 'hls') return; // HLS recovers by itself
    this.backoff.reset();
    this.connect();
  }

  /** `media.moved`: the server asks these members to offer again (their media worker
   * is gone, or a promoted listener must reach the space's origin). No reload. */
  moved(userIds, myId) {
    if (!Array.isArray(userIds) || !userIds.map(Number).includes(Number(myId))) return;
    if (this.closed || this.mode === 'hls' || !this.pc) return;
    this.reconnect();
  }

  /** On stage (WebRTC, always) or not; a listener on HLS brought on stage switches now. */
  setStage(onStage) {
    this.stage = onStage;
    if (onStage && this.mode === 'hls' && !this.closed) {
      this._stopHls();
      this.mode = 'webrtc';
      this.backoff.reset();
      this.connect();
    }
  }

  // -- HLS ------------------------------------------------------------------------

  /** Listen over LL-HLS: `path` from the server's webrtc_full answer, else asked for. */
  async startHls(path = null) {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    clearTimeout(this.fallbackTimer);
    clearTimeout(this.hlsTimer);
    this.generation += 1; // any WebRTC attempt in flight is superseded
    this._closePc();
    this.mode = 'hls';
    try {
      if (!path) path = (await get(`/spaces/${encodeURIComponent(this.spaceId)}/hls`)).path;
    } catch (err) {
      if (this.closed || this.mode !== 'hls') return;
      if (err && (err.status === 403 || err.status === 404)) {
        this._setState('refused', { error: err });
        return;
      }
      this._setState('failed', { error: err });
      this.hlsTimer = setTimeout(() => this.startHls(), HLS_RETRY_MS);
      return;
    }
    if (this.closed || this.mode !== 'hls') return;
    this._stopHls();
    this.hlsUrl = path;
    const audio = new Audio();
    audio.autoplay = true;
    this.hlsAudio = audio;
    if (this.context) {
      // Heard through the AudioContext (unlocked by the Join click), and measured there.
      this.hlsSource = this.context.createMediaElementSource(audio);
      this.hlsSource.connect(this.context.destination);
      this.hlsSource.connect(this.analyser);
    }
    // hls.js where MSE exists, else the browser's own HLS (iPhone Safari): js/hlsplay.js.
    const { how, hls } = attachHls(audio, path, Hls, {
      config: {
        lowLatencyMode: true,
        enableWorker: false,
        backBufferLength: 10,
        liveSyncMode: 'edge',
        xhrSetup: (xhr, url) => xhr.open('GET', this._withToken(url), true),
      },
      onFatal: (detail) => {
        if (this.hlsAudio !== audio) return;
        this._stopHls();
        this._setState('failed', { error: new Error(detail) });
        this.hlsTimer = setTimeout(() => this.startHls(), HLS_RETRY_MS);
      },
    });
    if (!how) {
      this._setState('refused', { error: new Error('this browser cannot play HLS') });
      return;
    }
    this.hls = hls;
    const p = audio.play();
    if (p && p.catch) p.catch(() => {});
    if (path.includes('token=')) this.hlsTimer = setTimeout(() => this._refreshToken(), HLS_TOKEN_REFRESH_MS);
    this._setState('hls');
  }

  _withToken(url) {
    const fresh = /[?&]token=([^&]*)/.exec(this.hlsUrl || '');
    return fresh ? url.replace(/([?&]token=)[^&]*/, `$1${fresh[1]}`) : url;
  }

  async _refreshToken() {
    if (this.closed || this.mode !== 'hls') return;
    try {
      const out = await get(`/spaces/${encodeURIComponent(this.spaceId)}/hls`);
      if (this.mode !== 'hls') return;
      this.hlsUrl = out.path;
      // hls.js picks the new token up on its next request; Safari's player is reloaded.
      if (!this.hls && this.hlsAudio) this.hlsAudio.src = out.path;
    } catch {
      /* retried below; the old token still has minutes to go */
    }
    this.hlsTimer = setTimeout(() => this._refreshToken(), HLS_TOKEN_REFRESH_MS);
  }

  _stopHls() {
    clearTimeout(this.hlsTimer);
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    if (this.hlsSource) {
      this.hlsSource.disconnect();
      this.hlsSource = null;
    }
    if (this.hlsAudio) {
      this.hlsAudio.pause();
      this.hlsAudio.removeAttribute('src');
      this.hlsAudio = null;
    }
  }

  /** Put the mic on the sender (on stage) or take it off (listener). Throws MicError. */
  async setMic(on) {
    this.wantMic = on;
    if (!on) {
      if (this.sender) await this.sender.replaceTrack(null);
      this._stopMic();
      return;
    }
    if (!this.micTrack || this.micTrack.readyState === 'ended') {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw micErrorFrom(null);
      try {
        this.micStream = await navigator.mediaDevices.getUserMedia({
          audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
          video: false,
        });
      } catch (err) {
        this.wantMic = false;
        throw micErrorFrom(err);
      }
      this.micTrack = this.micStream.getAudioTracks()[0];
      this.micTrack.addEventListener('ended', () => {
        this.dispatchEvent(new CustomEvent('mic-ended'));
      });
    }
    this.micTrack.enabled = !this.micMuted;
    if (!this.wantMic) return; // demoted while the permission prompt was open
    if (this.sender) await this.sender.replaceTrack(this.micTrack);
  }

  /** Mute locally (the server also stops mixing a muted speaker). */
  setMuted(muted) {
    this.micMuted = muted;
    if (this.micTrack) this.micTrack.enabled = !muted;
  }

  get micActive() {
    return Boolean(this.wantMic && this.micTrack && this.micTrack.readyState === 'live');
  }

  _stopMic() {
    if (this.micStream) this.micStream.getTracks().forEach((t) => t.stop());
    this.micStream = null;
    this.micTrack = null;
  }

  _closePc() {
    if (this.pc) {
      const pc = this.pc;
      this.pc = null;
      this.sender = null;
      try {
        pc.close();
      } catch {
        /* closed already */
      }
    }
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.graceTimer);
    clearTimeout(this.fallbackTimer);
    this._stopHls();
    this._closePc();
    this._stopMic();
    if (this.source) this.source.disconnect();
    this.audio.srcObject = null;
    if (this.context) this.context.close().catch(() => {});
    this.context = null;
    this._setState('closed');
  }

  /**
   * Measure the received audio for `ms`: RMS, the strongest spectral peaks and the level at
   * chosen frequencies (dBFS, averaged power over the window). Used by the end-to-end tests.
   */
  async analyse({ ms = 800, freqs = [] } = {}) {
    if (!this.analyser) return { rms: 0, peaks: [], levels: {}, frames: 0, connected: this.state === 'connected' };
    const a = this.analyser;
    const bins = a.frequencyBinCount;
    const power = new Float64Array(bins);
    const spectrum = new Float32Array(bins);
    const wave = new Float32Array(a.fftSize);
    let frames = 0;
    let sumSquares = 0;
    let samples = 0;
    const until = performance.now() + ms;
    while (performance.now() < until) {
      a.getFloatFrequencyData(spectrum);
      for (let i = 0; i < bins; i++) power[i] += Math.pow(10, spectrum[i] / 10);
      a.getFloatTimeDomainData(wave);
      for (let i = 0; i < wave.length; i++) sumSquares += wave[i] * wave[i];
      samples += wave.length;
      frames += 1;
      await new Promise((r) => setTimeout(r, 60));
    }
    const hz = this.context.sampleRate / a.fftSize;
    const db = Array.from(power, (p) => 10 * Math.log10(p / frames + 1e-20));
    const peaks = [];
    for (let i = 2; i < bins - 2; i++) {
      if (db[i] > -80 && db[i] >= db[i - 1] && db[i] >= db[i + 1] && db[i] >= db[i - 2] && db[i] >= db[i + 2]) {
        peaks.push({ freq: Math.round(i * hz), db: Math.round(db[i] * 10) / 10 });
      }
    }
    peaks.sort((x, y) => y.db - x.db);
    const levels = {};
    for (const f of freqs) {
      const c = Math.round(f / hz);
      let best = -200;
      for (let i = Math.max(0, c - 3); i <= Math.min(bins - 1, c + 3); i++) best = Math.max(best, db[i]);
      levels[f] = Math.round(best * 10) / 10;
    }
    return {
      rms: Math.sqrt(sumSquares / Math.max(1, samples)),
      peaks: peaks.slice(0, 8),
      levels,
      frames,
      connected: this.state === 'connected',
      mode: this.mode,
      connections: this.connections,
      sampleRate: this.context.sampleRate,
    };
  }
}
