import assert from 'node:assert/strict';
import { test } from 'node:test';
import { printable, printableLines } from '../src/text.js';

test('printable escapes C0 and C1 controls, DEL, line separators and bidi overrides, and keeps the rest', () => {
  assert.equal(printable('plain ascii ~ and ünïcödé 名前'), 'plain ascii ~ and ünïcödé 名前');
  assert.equal(printable('\x1b]0;pwned\x07\x1b[2J'), '\\x1b]0;pwned\\x07\\x1b[2J');
  assert.equal(printable('a\nb\tc\rd\0'), 'a\\x0ab\\x09c\\x0dd\\x00');
  assert.equal(printable('\x7f\x80\x9b\x9f\xa0'), '\\x7f\\x80\\x9b\\x9f\xa0');
  assert.equal(printable('x\u202ey\u2028z\u2066'), 'x\\u{202e}y\\u{2028}z\\u{2066}');
});

test('printableLines keeps the line breaks and escapes the rest', () => {
  assert.equal(printableLines('one\x1b[2J\ntwo\r'), 'one\\x1b[2J\ntwo\\x0d');
});
