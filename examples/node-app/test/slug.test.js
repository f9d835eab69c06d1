import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slug } from '../src/slug.js';

test('lower-cases and joins words with dashes', () => {
  assert.equal(slug('Hello, World!'), 'hello-world');
});

test('drops accents', () => {
  assert.equal(slug('Crème Brûlée'), 'creme-brulee');
});

test('trims separators at the ends', () => {
  assert.equal(slug('  --Slipway--  '), 'slipway');
});
