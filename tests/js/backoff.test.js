// The client's one backoff (src/townhall/web/js/backoff.js): doubling ceilings up to the
// maximum, jitter in the upper half, reset after a success.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Backoff } from '../../src/townhall/web/js/backoff.js';

test('ceilings double up to the maximum; a reset starts again', () => {
  const top = new Backoff({ initialMs: 250, maximumMs: 8000, random: () => 1 });
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(() => top.next()), [250, 500, 1000, 2000, 4000, 8000, 8000]);
  top.reset();
  assert.equal(top.next(), 250);
});

test('jitter keeps each delay within the upper half of its ceiling', () => {
  const bottom = new Backoff({ initialMs: 500, maximumMs: 8000, random: () => 0 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => bottom.next()), [250, 500, 1000, 2000, 4000, 4000]);
  const real = new Backoff({ initialMs: 500, maximumMs: 8000 });
  const drawn = Array.from({ length: 200 }, () => {
    real.reset();
    return real.next();
  });
  assert.ok(drawn.every((d) => d >= 250 && d <= 500));
  assert.ok(new Set(drawn).size > 10, 'browsers dropped together come back spread out');
});
