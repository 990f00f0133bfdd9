import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalExtensions, ISA_EXTENSIONS, isaExtensionList, isaString, MISA_HI, MISA_LO } from '../../../src/machine/riscv/isa.js';

test('misa names A, C, D, F, I, M, S and U with MXL = 64', () => {
  const misa = (BigInt(MISA_HI >>> 0) << 32n) | BigInt(MISA_LO >>> 0);
  assert.equal(misa, 0x800000000014112dn);
});

test('the ISA string puts Z extensions by category in canonical letter order, then S extensions', () => {
  assert.equal(isaString(['svpbmt', 'zbb', 'sstc', 'zfh', 'zicsr', 'zba', 'zcb', 'zkt', 'zicond', 'zmmul']),
    'rv64imafdc_zicond_zicsr_zmmul_zfh_zcb_zba_zbb_zkt_sstc_svpbmt');
  assert.deepEqual(canonicalExtensions(['svnapot', 'svinval', 'sstc']), ['sstc', 'svinval', 'svnapot']);
});

test('the extension list begins with the single letters and holds every multi-letter extension once', () => {
  const list = isaExtensionList();
  assert.deepEqual(list.slice(0, 6), ['i', 'm', 'a', 'f', 'd', 'c']);
  assert.equal(new Set(list).size, list.length);
  assert.deepEqual([...list.slice(6)].sort(), [...ISA_EXTENSIONS].sort());
  assert.equal(isaString(), ['rv64imafdc', ...list.slice(6)].join('_'));
});
