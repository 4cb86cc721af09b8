// HLS in an <audio> element, in hls.js's own recommended order: hls.js wherever Media
// Source Extensions exist (`Hls.isSupported()`), else the browser's own player where
// `canPlayType` says it has one (iPhone Safari: no MSE, LL-HLS played natively), else none.
// Chromium's canPlayType also says "maybe", but its own player plays whole segments
// 6.5-8 s behind, against about 2 s for hls.js (bench/README.md). hls.js is passed in
// (js/media.js and the replay player import the vendored build), so this module also
// loads in node for its unit test (tests/js/hlsplay.test.js).

export const HLS_TYPE = 'application/vnd.apple.mpegurl';

/** 'native', 'hlsjs' or null: how `audio` plays HLS in this browser. */
export function chooseHls(audio, Hls) {
  if (Hls && Hls.isSupported()) return 'hlsjs';
  if (audio.canPlayType(HLS_TYPE)) return 'native';
  return null;
}

/**
 * Play the HLS playlist at `url` in `audio`. Returns { how, hls }: `hls` is the hls.js
 * instance (null for the native player or none). `onFatal(detail)` is called once when
 * playback cannot go on (a fatal hls.js error other than a media one, which it recovers,
 * or the native player's error), so the caller can fall back.
 */
export function attachHls(audio, url, Hls, { config = {}, onFatal = null } = {}) {
  const how = chooseHls(audio, Hls);
  audio.dataset.hls = how || 'none';
  let failed = false;
  const fail = (detail) => {
    if (failed) return;
    failed = true;
    if (onFatal) onFatal(detail);
  };
  if (how === 'native') {
    audio.addEventListener('error', () => fail('native player error'), { once: true });
    audio.src = url;
    return { how, hls: null };
  }
  if (how === 'hlsjs') {
    const hls = new Hls(config);
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      else fail(data.details);
    });
    hls.loadSource(url);
    hls.attachMedia(audio);
    return { how, hls };
  }
  return { how: null, hls: null };
}
