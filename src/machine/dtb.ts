/**
 * Flattened devicetree (FDT, "DTB") encoder: Devicetree Specification v0.4, chapter 5.
 *
 * The board builds a tree of DtNode objects and encodes it once at boot. The blob is version 17
 * (last compatible version 16): the header, the memory reservation block, the structure block
 * (FDT_BEGIN_NODE / FDT_PROP / FDT_END_NODE, ending with FDT_END) and the strings block, every field
 * big-endian.
 *
 * Values follow the spec's property value types (2.2.4): a string, a string list, u32 cells, 64-bit
 * values as two cells (high first), raw bytes, or nothing. A node used as a cell value stands for its
 * phandle: the encoder numbers referenced nodes 1, 2, ... in tree order and gives each a `phandle`
 * property, so a board writes `interrupt-parent = plic` instead of tracking numbers by hand.
 *
 * Mistakes here are the board's (names and values are built by code, not read from users), so they throw
 * plain Errors rather than BonsaiError.
 */

const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 0x1;
const FDT_END_NODE = 0x2;
const FDT_PROP = 0x3;
const FDT_END = 0x9;
const FDT_VERSION = 17;
const FDT_LAST_COMP_VERSION = 16;
const HEADER_SIZE = 40;

/** A 64-bit value written as two u32 cells, high cell first (spec 2.2.4, <u64>). */
export interface DtU64 { readonly u64: number }

/** One cell or cell pair: a u32, a 64-bit value, or a node standing for its phandle. */
export type DtCell = number | DtU64 | DtNode;

/**
 * A property value: null (empty, e.g. `ranges;`), a string, a string list, one or more cells (u32,
 * u64 pairs, phandles), or raw bytes.
 */
export type DtValue = null | string | readonly string[] | DtCell | readonly DtCell[] | Uint8Array;

/** A 64-bit cell value; exact for integers below 2^53. */
export function u64(value: number): DtU64 {
  return { u64: value };
}

interface DtProp { readonly name: string; readonly value: DtValue }

// Devicetree Specification v0.4, 2.2.1 (node names) and 2.2.4.1 (property names).
const NODE_NAME = /^[0-9a-zA-Z,._+-]{1,31}(@[0-9a-zA-Z,._+-]+)?$/;
const PROP_NAME = /^[0-9a-zA-Z,._+?#-]{1,31}$/;

export class DtNode {
  readonly props: DtProp[] = [];
  readonly children: DtNode[] = [];

  /** `name` is "node-name@unit-address"; the root node is named "". */
  constructor(readonly name: string) {
    if (name !== '' && !NODE_NAME.test(name)) throw new Error(`devicetree: invalid node name "${name}"`);
  }

  /** Adds a property; returns this node, so calls chain. */
  prop(name: string, value: DtValue): this {
    if (!PROP_NAME.test(name)) throw new Error(`devicetree: invalid property name "${name}" in node "${this.name}"`);
    if (name === 'phandle') throw new Error(`devicetree: node "${this.name}" sets phandle by hand; refer to the node instead`);
    if (this.props.some((p) => p.name === name)) throw new Error(`devicetree: node "${this.name}" has two "${name}" properties`);
    checkValue(value, name);
    this.props.push({ name, value });
    return this;
  }

  /** Adds `node` as a child and returns it, so a subtree can be built where it is attached. */
  child(node: DtNode): DtNode {
    if (this.children.some((c) => c.name === node.name)) {
      throw new Error(`devicetree: node "${this.name}" has two children named "${node.name}"`);
    }
    this.children.push(node);
    return node;
  }

  /** Shorthand: creates a child named `name`, attaches it and returns it. */
  add(name: string): DtNode {
    return this.child(new DtNode(name));
  }
}

function checkValue(value: DtValue, name: string): void {
  const cell = (c: DtCell): void => {
    if (typeof c === 'number') {
      if (!Number.isInteger(c) || c < 0 || c > 0xffffffff) throw new Error(`devicetree: property "${name}": ${c} is not a u32`);
    } else if (!(c instanceof DtNode)) {
      if (!Number.isInteger(c.u64) || c.u64 < 0 || c.u64 > Number.MAX_SAFE_INTEGER) {
        throw new Error(`devicetree: property "${name}": ${c.u64} is not a 64-bit value below 2^53`);
      }
    }
  };
  const str = (s: string): void => {
    if (s.includes('\0')) throw new Error(`devicetree: property "${name}": string contains a NUL character`);
  };
  if (value === null || value instanceof Uint8Array) return;
  if (typeof value === 'string') { str(value); return; }
  if (isArray(value)) {
    for (const v of value) { if (typeof v === 'string') str(v); else cell(v); }
    return;
  }
  cell(value);
}

function isArray(value: DtValue): value is readonly string[] | readonly DtCell[] {
  return Array.isArray(value);
}

export interface DtbOptions {
  /** boot_cpuid_phys: the hart id of the boot CPU (its `reg`). */
  bootCpuId: number;
  /** Memory reservation block entries: [physical address, size in bytes]. */
  reserve?: readonly (readonly [number, number])[];
  /** Free bytes after the blob (inside totalsize), for software that edits the tree in place. */
  padding?: number;
}

/** Grows a big-endian byte buffer. */
class Writer {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v >>> 0);
    this.length += 4;
  }

  u64(v: number): void {
    this.u32(Math.floor(v / 4294967296));
    this.u32(v % 4294967296);
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** Zero bytes up to a multiple of `n`. */
  align(n: number): void {
    const pad = (n - (this.length % n)) % n;
    this.reserve(pad);
    this.buf.fill(0, this.length, this.length + pad);
    this.length += pad;
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const utf8 = new TextEncoder();

/** Encodes the tree under `root` (whose name must be "") as a version-17 flattened devicetree. */
export function encodeDtb(root: DtNode, opts: DtbOptions): Uint8Array {
  if (root.name !== '') throw new Error(`devicetree: the root node must be named "", not "${root.name}"`);
  if (!Number.isInteger(opts.bootCpuId) || opts.bootCpuId < 0 || opts.bootCpuId > 0xffffffff) {
    throw new Error(`devicetree: boot CPU id ${opts.bootCpuId} is not a u32`);
  }
  const padding = opts.padding ?? 0;
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`devicetree: padding ${padding} is not a byte count`);

  const phandles = assignPhandles(root);

  // Strings block: each property name once, in order of first use.
  const strings = new Writer();
  const nameOffsets = new Map<string, number>();
  const nameOffset = (name: string): number => {
    let off = nameOffsets.get(name);
    if (off === undefined) {
      off = strings.length;
      nameOffsets.set(name, off);
      strings.bytes(utf8.encode(name));
      strings.bytes(new Uint8Array(1));
    }
    return off;
  };

  // Structure block.
  const struct = new Writer();
  const emitProp = (name: string, data: Uint8Array): void => {
    struct.u32(FDT_PROP);
    struct.u32(data.length);
    struct.u32(nameOffset(name));
    struct.bytes(data);
    struct.align(4);
  };
  const emitNode = (node: DtNode): void => {
    struct.u32(FDT_BEGIN_NODE);
    struct.bytes(utf8.encode(node.name));
    struct.bytes(new Uint8Array(1));
    struct.align(4);
    for (const p of node.props) emitProp(p.name, encodeValue(p.value, phandles, p.name));
    const ph = phandles.get(node);
    if (ph !== undefined) emitProp('phandle', cells([ph]));
    for (const c of node.children) emitNode(c);
    struct.u32(FDT_END_NODE);
  };
  emitNode(root);
  struct.u32(FDT_END);

  // Layout: header, memory reservation block (8-byte aligned), structure block, strings block.
  const out = new Writer();
  const reserve = opts.reserve ?? [];
  const rsvOff = HEADER_SIZE; // already a multiple of 8
  const structOff = rsvOff + 16 * (reserve.length + 1);
  const stringsOff = structOff + struct.length;
  const total = stringsOff + strings.length + padding;
  out.u32(FDT_MAGIC);
  out.u32(total);
  out.u32(structOff);
  out.u32(stringsOff);
  out.u32(rsvOff);
  out.u32(FDT_VERSION);
  out.u32(FDT_LAST_COMP_VERSION);
  out.u32(opts.bootCpuId);
  out.u32(strings.length);
  out.u32(struct.length);
  for (const [addr, size] of reserve) {
    for (const v of [addr, size]) {
      if (!Number.isInteger(v) || v < 0 || v > Number.MAX_SAFE_INTEGER) {
        throw new Error(`devicetree: memory reservation [${addr}, ${size}] is not a pair of 64-bit values below 2^53`);
      }
    }
    out.u64(addr);
    out.u64(size);
  }
  out.u64(0);
  out.u64(0);
  out.bytes(struct.result());
  out.bytes(strings.result());
  out.bytes(new Uint8Array(padding));
  return out.result();
}

/** Numbers every node referenced from a property 1, 2, ... in depth-first tree order. */
function assignPhandles(root: DtNode): Map<DtNode, number> {
  const referenced = new Set<DtNode>();
  const inTree = new Set<DtNode>();
  const walk = (node: DtNode): void => {
    if (inTree.has(node)) throw new Error(`devicetree: node "${node.name}" appears twice in the tree`);
    inTree.add(node);
    for (const p of node.props) {
      const v = p.value;
      if (v instanceof DtNode) referenced.add(v);
      else if (isArray(v)) for (const c of v) if (c instanceof DtNode) referenced.add(c);
    }
    for (const c of node.children) walk(c);
  };
  walk(root);
  const phandles = new Map<DtNode, number>();
  const number = (node: DtNode): void => {
    if (referenced.has(node)) phandles.set(node, phandles.size + 1);
    for (const c of node.children) number(c);
  };
  number(root);
  for (const node of referenced) {
    if (!phandles.has(node)) throw new Error(`devicetree: a property refers to node "${node.name}", which is not in the tree`);
  }
  return phandles;
}

function cells(values: readonly number[]): Uint8Array {
  const b = new Uint8Array(values.length * 4);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setUint32(i * 4, x));
  return b;
}

function encodeValue(value: DtValue, phandles: Map<DtNode, number>, name: string): Uint8Array {
  if (value === null) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return utf8.encode(`${value}\0`);
  const list: readonly (string | DtCell)[] = isArray(value) ? value : [value];
  if (list.length > 0 && typeof list[0] === 'string') {
    return utf8.encode(list.map((s) => `${String(s)}\0`).join(''));
  }
  const words: number[] = [];
  for (const c of list) {
    if (typeof c === 'string') throw new Error(`devicetree: property "${name}" mixes strings and cells`);
    if (typeof c === 'number') words.push(c);
    else if (c instanceof DtNode) words.push(phandles.get(c) ?? 0);
    else words.push(Math.floor(c.u64 / 4294967296), c.u64 % 4294967296);
  }
  return cells(words);
}
