// How the web client plays HLS (src/townhall/web/js/hlsplay.js): hls.js wherever it is
// supported (MSE), even where canPlayType says the browser has its own player (Chromium,
// desktop Safari); else the browser's own player (iPhone Safari); else none. Fakes stand in
// for the <audio> element and hls.js.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { HLS_TYPE, attachHls, chooseHls } from '../../src/townhall/web/js/hlsplay.js';

function fakeAudio(native) {
  return {
    dataset: {},
    src: '',
    listeners: {},
    canPlayType: (type) => (native && type === HLS_TYPE ? 'maybe' : ''),
    addEventListener(name, fn) {
      this.listeners[name] = fn;
    },
  };
}

function fakeHls(supported) {
  class FakeHls {
    static Events = { ERROR: 'hlsError' };
    static ErrorTypes = { MEDIA_ERROR: 'mediaError', NETWORK_ERROR: 'networkError' };
    static made = [];
    static isSupported = () => supported;
    constructor(config) {
      this.config = config;
      this.handlers = {};
      this.recovered = 0;
      FakeHls.made.push(this);
    }
    on(name, fn) {
      this.handlers[name] = fn;
    }
    loadSource(url) {
      this.url = url;
    }
    attachMedia(audio) {
      this.audio = audio;
    }
    recoverMediaError() {
      this.recovered += 1;
    }
  }
  return FakeHls;
}

test('hls.js wherever it is supported, even where canPlayType says "maybe"', () => {
  const audio = fakeAudio(true); // Chromium, desktop Safari: own player and MSE
  const Hls = fakeHls(true);
  assert.equal(chooseHls(audio, Hls), 'hlsjs');
  const out = attachHls(audio, '/hls/x/live.m3u8', Hls);
  assert.equal(out.how, 'hlsjs');
  assert.equal(out.hls.url, '/hls/x/live.m3u8');
  assert.equal(audio.src, ''); // the element is hls.js's, not the native player's
  assert.equal(audio.dataset.hls, 'hlsjs');
  assert.equal(Hls.made.length, 1);
});

test('native HLS only where hls.js is not supported (no MSE: iPhone Safari)', () => {
  const audio = fakeAudio(true);
  const Hls = fakeHls(false);
  assert.equal(chooseHls(audio, Hls), 'native');
  assert.equal(chooseHls(audio, null), 'native');
  const out = attachHls(audio, '/hls/x/replay.m3u8', Hls);
  assert.deepEqual(out, { how: 'native', hls: null });
  assert.equal(audio.src, '/hls/x/replay.m3u8');
  assert.equal(audio.dataset.hls, 'native');
  assert.equal(Hls.made.length, 0);
});

test('hls.js where there is no native HLS; media errors recovered, others fatal', () => {
  const audio = fakeAudio(false);
  const Hls = fakeHls(true);
  const fatal = [];
  const out = attachHls(audio, '/hls/x/live.m3u8', Hls, {
    config: { lowLatencyMode: true },
    onFatal: (detail) => fatal.push(detail),
  });
  assert.equal(out.how, 'hlsjs');
  assert.equal(out.hls.url, '/hls/x/live.m3u8');
  assert.equal(out.hls.audio, audio);
  assert.equal(out.hls.config.lowLatencyMode, true);
  assert.equal(audio.src, '');
  const onError = out.hls.handlers[Hls.Events.ERROR];
  onError('hlsError', { fatal: false, type: 'networkError' });
  onError('hlsError', { fatal: true, type: 'mediaError' });
  assert.equal(out.hls.recovered, 1);
  assert.deepEqual(fatal, []);
  onError('hlsError', { fatal: true, type: 'networkError', details: 'manifestLoadError' });
  onError('hlsError', { fatal: true, type: 'networkError', details: 'again' });
  assert.deepEqual(fatal, ['manifestLoadError']); // once
});

test('neither: none, and the caller falls back', () => {
  const audio = fakeAudio(false);
  assert.equal(chooseHls(audio, fakeHls(false)), null);
  assert.equal(chooseHls(audio, null), null);
  assert.deepEqual(attachHls(audio, '/x.m3u8', fakeHls(false)), { how: null, hls: null });
  assert.equal(audio.dataset.hls, 'none');
});

test("the native player's error is reported once", () => {
  const audio = fakeAudio(true);
  const fatal = [];
  attachHls(audio, '/x.m3u8', fakeHls(false), { onFatal: (d) => fatal.push(d) });
  audio.listeners.error();
  assert.deepEqual(fatal, ['native player error']);
});
