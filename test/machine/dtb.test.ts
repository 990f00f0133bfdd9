import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DtNode, encodeDtb, u64 } from '../../src/machine/dtb.js';

// --- a tiny FDT decoder (Devicetree Specification v0.4, chapter 5), independent of the encoder ----------

interface Decoded {
  header: { magic: number; totalsize: number; offStruct: number; offStrings: number; offRsv: number; version: number;
    lastComp: number; bootCpu: number; sizeStrings: number; sizeStruct: number };
  reserve: [number, number][];
  root: DecodedNode;
  /** Every property name as found in the strings block, in order. */
  strings: string[];
}

interface DecodedNode { name: string; props: Map<string, Uint8Array>; children: DecodedNode[] }

function decode(blob: Uint8Array): Decoded {
  const v = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const u32 = (o: number): number => v.getUint32(o);
  const header = {
    magic: u32(0), totalsize: u32(4), offStruct: u32(8), offStrings: u32(12), offRsv: u32(16), version: u32(20),
    lastComp: u32(24), bootCpu: u32(28), sizeStrings: u32(32), sizeStruct: u32(36),
  };
  assert.equal(header.offRsv % 8, 0, 'memory reservation block is 8-byte aligned');
  assert.equal(header.offStruct % 4, 0, 'structure block is 4-byte aligned');
  const reserve: [number, number][] = [];
  for (let o = header.offRsv; ; o += 16) {
    const addr = u32(o) * 2 ** 32 + u32(o + 4), size = u32(o + 8) * 2 ** 32 + u32(o + 12);
    if (addr === 0 && size === 0) break;
    reserve.push([addr, size]);
  }
  const text = new TextDecoder();
  const cstr = (o: number): string => {
    let e = o;
    while (blob[e] !== 0) e++;
    return text.decode(blob.subarray(o, e));
  };
  const strings: string[] = [];
  for (let o = header.offStrings; o < header.offStrings + header.sizeStrings; o += strings[strings.length - 1].length + 1) {
    strings.push(cstr(o));
  }
  let p = header.offStruct;
  const end = header.offStruct + header.sizeStruct;
  const token = (): number => { assert.equal(p % 4, 0, 'tokens are 4-byte aligned'); const t = u32(p); p += 4; return t; };
  const node = (): DecodedNode => {
    const name = cstr(p);
    p = (p + name.length + 1 + 3) & ~3;
    const n: DecodedNode = { name, props: new Map(), children: [] };
    for (;;) {
      const t = token();
      if (t === 3) {
        const len = u32(p), nameoff = u32(p + 4);
        p += 8;
        const pname = cstr(header.offStrings + nameoff);
        assert.ok(!n.props.has(pname), `duplicate property ${pname}`);
        n.props.set(pname, blob.slice(p, p + len));
        p = (p + len + 3) & ~3;
      } else if (t === 1) {
        n.children.push(node());
      } else if (t === 2) {
        return n;
      } else if (t !== 4) {
        assert.fail(`unexpected token ${t} at ${p - 4}`);
      }
    }
  };
  assert.equal(token(), 1, 'the structure block starts with FDT_BEGIN_NODE');
  const root = node();
  assert.equal(token(), 9, 'FDT_END follows the root node');
  assert.equal(p, end, 'size_dt_struct covers exactly the tokens');
  return { header, reserve, root, strings };
}

const cellsOf = (b: Uint8Array): number[] => {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Array.from({ length: b.length / 4 }, (_, i) => v.getUint32(i * 4));
};
const str = (b: Uint8Array): string => new TextDecoder().decode(b);
const find = (n: DecodedNode, path: string): DecodedNode => {
  let cur = n;
  for (const part of path.split('/').filter((s) => s !== '')) {
    const next = cur.children.find((c) => c.name === part);
    assert.ok(next, `node ${path} exists`);
    cur = next;
  }
  return cur;
};

// --- a representative tree: the shape of the board's virt-like description -------------------------------

function virtTree(): DtNode {
  const root = new DtNode('')
    .prop('#address-cells', 2).prop('#size-cells', 2)
    .prop('compatible', 'riscv-virtio').prop('model', 'bonsai,virt');
  root.add('chosen').prop('bootargs', 'console=ttyS0 earlycon').prop('stdout-path', '/soc/serial@10000000');
  root.add('memory@80000000').prop('device_type', 'memory').prop('reg', [u64(0x80000000), u64(0x10000000)]);
  const cpus = root.add('cpus').prop('#address-cells', 1).prop('#size-cells', 0).prop('timebase-frequency', 10_000_000);
  const cpu = cpus.add('cpu@0')
    .prop('device_type', 'cpu').prop('reg', 0).prop('status', 'okay').prop('compatible', 'riscv')
    .prop('riscv,isa', 'rv64imafdc_zicsr_zifencei_sstc')
    .prop('riscv,isa-base', 'rv64i')
    .prop('riscv,isa-extensions', ['i', 'm', 'a', 'f', 'd', 'c', 'zicsr', 'zifencei', 'sstc'])
    .prop('mmu-type', 'riscv,sv48');
  const intc = cpu.add('interrupt-controller')
    .prop('#address-cells', 0).prop('#interrupt-cells', 1).prop('interrupt-controller', null)
    .prop('compatible', 'riscv,cpu-intc');
  const soc = root.add('soc').prop('#address-cells', 2).prop('#size-cells', 2)
    .prop('compatible', 'simple-bus').prop('ranges', null);
  const plic = new DtNode('plic@c000000');
  soc.add('serial@10000000').prop('interrupts', 10).prop('interrupt-parent', plic)
    .prop('clock-frequency', 0x384000).prop('reg', [u64(0x10000000), u64(0x100)]).prop('compatible', 'ns16550a');
  soc.child(plic)
    .prop('#address-cells', 0).prop('#interrupt-cells', 1).prop('interrupt-controller', null)
    .prop('compatible', ['sifive,plic-1.0.0', 'riscv,plic0']).prop('riscv,ndev', 0x5f)
    .prop('reg', [u64(0xc000000), u64(0x600000)]).prop('interrupts-extended', [intc, 11, intc, 9]);
  soc.add('clint@2000000').prop('interrupts-extended', [intc, 3, intc, 7])
    .prop('reg', [u64(0x2000000), u64(0x10000)]).prop('compatible', ['sifive,clint0', 'riscv,clint0']);
  return root;
}

/** The same tree as DTS source, with labels where the encoder numbers phandles. */
const VIRT_DTS = `/dts-v1/;
/memreserve/ 0x80000000 0x200000;
/ {
	#address-cells = <2>;
	#size-cells = <2>;
	compatible = "riscv-virtio";
	model = "bonsai,virt";
	chosen {
		bootargs = "console=ttyS0 earlycon";
		stdout-path = "/soc/serial@10000000";
	};
	memory@80000000 {
		device_type = "memory";
		reg = <0x0 0x80000000 0x0 0x10000000>;
	};
	cpus {
		#address-cells = <1>;
		#size-cells = <0>;
		timebase-frequency = <10000000>;
		cpu@0 {
			device_type = "cpu";
			reg = <0>;
			status = "okay";
			compatible = "riscv";
			riscv,isa = "rv64imafdc_zicsr_zifencei_sstc";
			riscv,isa-base = "rv64i";
			riscv,isa-extensions = "i", "m", "a", "f", "d", "c", "zicsr", "zifencei", "sstc";
			mmu-type = "riscv,sv48";
			intc: interrupt-controller {
				#address-cells = <0>;
				#interrupt-cells = <1>;
				interrupt-controller;
				compatible = "riscv,cpu-intc";
				phandle = <1>;
			};
		};
	};
	soc {
		#address-cells = <2>;
		#size-cells = <2>;
		compatible = "simple-bus";
		ranges;
		serial@10000000 {
			interrupts = <10>;
			interrupt-parent = <2>;
			clock-frequency = <0x384000>;
			reg = <0x0 0x10000000 0x0 0x100>;
			compatible = "ns16550a";
		};
		plic@c000000 {
			#address-cells = <0>;
			#interrupt-cells = <1>;
			interrupt-controller;
			compatible = "sifive,plic-1.0.0", "riscv,plic0";
			riscv,ndev = <0x5f>;
			reg = <0x0 0xc000000 0x0 0x600000>;
			interrupts-extended = <1 11 1 9>;
			phandle = <2>;
		};
		clint@2000000 {
			interrupts-extended = <1 3 1 7>;
			reg = <0x0 0x2000000 0x0 0x10000>;
			compatible = "sifive,clint0", "riscv,clint0";
		};
	};
};
`;

test('the header describes a version 17 blob whose blocks lie inside totalsize', () => {
  const blob = encodeDtb(virtTree(), { bootCpuId: 0, reserve: [[0x80000000, 0x200000]] });
  const { header } = decode(blob);
  assert.equal(header.magic, 0xd00dfeed);
  assert.equal(header.totalsize, blob.length);
  assert.equal(header.version, 17);
  assert.equal(header.lastComp, 16);
  assert.equal(header.bootCpu, 0);
  assert.equal(header.offRsv, 40, 'the reservation block follows the 40-byte header');
  assert.equal(header.offStruct, 40 + 2 * 16, 'one entry and the terminator');
  assert.equal(header.offStrings, header.offStruct + header.sizeStruct);
  assert.equal(header.offStrings + header.sizeStrings, header.totalsize);
});

test('memory reservations are listed in order and terminated, 64-bit values intact', () => {
  const root = new DtNode('');
  const blob = encodeDtb(root, { bootCpuId: 3, reserve: [[0x80000000, 0x200000], [0x1_2345_6000, 0x1000]] });
  const d = decode(blob);
  assert.deepEqual(d.reserve, [[0x80000000, 0x200000], [0x1_2345_6000, 0x1000]]);
  assert.equal(d.header.bootCpu, 3);
  assert.deepEqual(decode(encodeDtb(root, { bootCpuId: 0 })).reserve, []);
});

test('property values encode as strings, string lists, cells, 64-bit cell pairs, bytes and empty', () => {
  const root = new DtNode('');
  root.add('n@1')
    .prop('s', 'abc').prop('list', ['a', 'bc']).prop('one', 0xdeadbeef).prop('many', [1, 2, 3])
    .prop('wide', [u64(0x1_0000_0002), 7]).prop('raw', new Uint8Array([1, 2, 3])).prop('flag', null);
  const n = find(decode(encodeDtb(root, { bootCpuId: 0 })).root, 'n@1');
  assert.equal(str(n.props.get('s')!), 'abc\0');
  assert.equal(str(n.props.get('list')!), 'a\0bc\0');
  assert.deepEqual(cellsOf(n.props.get('one')!), [0xdeadbeef]);
  assert.deepEqual(cellsOf(n.props.get('many')!), [1, 2, 3]);
  assert.deepEqual(cellsOf(n.props.get('wide')!), [1, 2, 7]);
  assert.deepEqual([...n.props.get('raw')!], [1, 2, 3]);
  assert.equal(n.props.get('flag')!.length, 0);
});

test('property names are stored once in the strings block however often they are used', () => {
  const { strings, root } = decode(encodeDtb(virtTree(), { bootCpuId: 0 }));
  assert.equal(new Set(strings).size, strings.length);
  assert.ok(strings.includes('#address-cells') && strings.includes('phandle'));
  assert.equal(find(root, 'soc').props.size, 4);
});

test('referenced nodes get phandles 1, 2, ... in tree order and references carry those numbers', () => {
  const { root } = decode(encodeDtb(virtTree(), { bootCpuId: 0 }));
  const intc = find(root, 'cpus/cpu@0/interrupt-controller');
  const plic = find(root, 'soc/plic@c000000');
  assert.deepEqual(cellsOf(intc.props.get('phandle')!), [1]);
  assert.deepEqual(cellsOf(plic.props.get('phandle')!), [2]);
  assert.deepEqual(cellsOf(find(root, 'soc/serial@10000000').props.get('interrupt-parent')!), [2]);
  assert.deepEqual(cellsOf(find(root, 'soc/clint@2000000').props.get('interrupts-extended')!), [1, 3, 1, 7]);
  assert.equal(find(root, 'soc/clint@2000000').props.has('phandle'), false, 'unreferenced nodes get none');
});

test('padding adds free space inside totalsize', () => {
  const plain = encodeDtb(virtTree(), { bootCpuId: 0 });
  const padded = encodeDtb(virtTree(), { bootCpuId: 0, padding: 4096 });
  assert.equal(padded.length, plain.length + 4096);
  assert.equal(decode(padded).header.totalsize, padded.length);
});

test('mistakes in the tree are refused when they are made', () => {
  const n = new DtNode('x');
  assert.throws(() => new DtNode('bad name'), /invalid node name/);
  assert.throws(() => n.prop('has space', 1), /invalid property name/);
  assert.throws(() => n.prop('v', -1), /not a u32/);
  assert.throws(() => n.prop('v', 2 ** 32), /not a u32/);
  assert.throws(() => n.prop('v', 'a\0b'), /NUL/);
  assert.throws(() => n.prop('phandle', 1), /phandle/);
  n.prop('v', 1);
  assert.throws(() => n.prop('v', 2), /two "v" properties/);
  n.add('c');
  assert.throws(() => n.add('c'), /two children/);
  const root = new DtNode('');
  root.add('a').prop('ref', new DtNode('elsewhere'));
  assert.throws(() => encodeDtb(root, { bootCpuId: 0 }), /not in the tree/);
  assert.throws(() => encodeDtb(new DtNode('x'), { bootCpuId: 0 }), /root node/);
});

function haveDtc(): boolean {
  return spawnSync('dtc', ['--version'], { encoding: 'utf8' }).status === 0;
}

test('dtc decodes the blob into the same source it compiles from the equivalent DTS, without warnings', (t) => {
  if (!haveDtc()) { t.skip('dtc is not installed (Debian package device-tree-compiler)'); return; }
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-dtb-'));
  try {
    const ours = join(dir, 'ours.dtb');
    writeFileSync(ours, encodeDtb(virtTree(), { bootCpuId: 0, reserve: [[0x80000000, 0x200000]] }));
    writeFileSync(join(dir, 'ref.dts'), VIRT_DTS);
    const ref = spawnSync('dtc', ['-I', 'dts', '-O', 'dtb', '-o', join(dir, 'ref.dtb'), join(dir, 'ref.dts')], { encoding: 'utf8' });
    assert.equal(ref.status, 0, ref.stderr);
    const dump = (file: string): { out: string; err: string } => {
      const r = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return { out: r.stdout, err: r.stderr };
    };
    const mine = dump(ours), theirs = dump(join(dir, 'ref.dtb'));
    assert.equal(mine.err, '', 'dtc has no warnings about the blob');
    assert.equal(mine.out, theirs.out);
    assert.match(mine.out, /\/memreserve\/\s+0x0000000080000000 0x0000000000200000;/);
    assert.match(mine.out, /riscv,isa-extensions = "i\\0m\\0a\\0f\\0d\\0c\\0zicsr\\0zifencei\\0sstc";/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
