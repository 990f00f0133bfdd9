/**
 * Where the architectural state and guest RAM live inside the machine's one WebAssembly.Memory.
 *
 * The interpreter, the devices and the future JIT all see the same bytes: the JIT will compile guest code
 * to WebAssembly functions that import this memory and read registers at these fixed offsets.
 * 64-bit registers are stored little-endian, so the Int32Array view holds register i as
 * lo = x32[2*i], hi = x32[2*i+1] (DESIGN.md: no BigInt on hot paths, 32-bit halves instead).
 */
export const STATE_X = 0; // 32 integer registers, 8 bytes each
export const STATE_F = 256; // 32 floating-point registers, 8 bytes each (NaN-boxed singles)
export const STATE_PC = 512; // pc, 8 bytes
/** Set (int32 1) by compiled code that loaded or stored an FP register: the hart then sets mstatus.FS dirty. */
export const STATE_FP_DIRTY = 520;
/**
 * The LR reservation (hart.ts resv: the memory offset of its 8-byte granule, or -1), written here around
 * compiled code, which takes LR/SC and clears the reservation on a store into it.
 */
export const STATE_RESV = 524;
export const STATE_BYTES = 4096;
/**
 * The data TLB (mmu.ts: load and store tables, 4 sets of TLB_SIZE entries, int32 each), so that compiled code
 * (jit/) does the TLB fast path inline. Six tables of TLB_ENTRIES int32: tag, tag high half and base, for loads
 * then stores. They fill the space between the registers and RAM (49152 of its 61440 bytes).
 */
export const STATE_TLB = 4096;
export const TLB_ENTRIES = 2048;
const TLB_TABLE = TLB_ENTRIES * 4;
export const TLB_TAG_R = STATE_TLB;
export const TLB_TAGHI_R = STATE_TLB + TLB_TABLE;
export const TLB_BASE_R = STATE_TLB + 2 * TLB_TABLE;
export const TLB_TAG_W = STATE_TLB + 3 * TLB_TABLE;
export const TLB_TAGHI_W = STATE_TLB + 4 * TLB_TABLE;
export const TLB_BASE_W = STATE_TLB + 5 * TLB_TABLE;
/**
 * Load victims: one entry for each pair of load slots (TLB_ENTRIES / 2), holding the translation a load fill
 * last pushed out of either, which compiled code checks when the slot misses (mmu.ts). Two hot pages whose
 * slots collide (measured in the Linux shell loop: a heap page and a stack page) then both hit in compiled
 * code; the interpreter reads the slots only. They take the rest of the space below RAM.
 */
export const TLB_VICTIMS = TLB_ENTRIES / 2;
export const TLB_VTAG_R = STATE_TLB + 6 * TLB_TABLE;
export const TLB_VTAGHI_R = TLB_VTAG_R + TLB_VICTIMS * 4;
export const TLB_VBASE_R = TLB_VTAG_R + 2 * TLB_VICTIMS * 4;
export const STATE_TLB_END = TLB_VTAG_R + 3 * TLB_VICTIMS * 4;
/** Guest RAM starts at this byte offset of the memory (one WebAssembly page, 64 KiB, keeps RAM page-aligned). */
export const RAM_OFFSET = 65536;
if (STATE_TLB_END > RAM_OFFSET) throw new Error('layout.ts: the architectural state overlaps RAM');
export const WASM_PAGE = 65536;
/**
 * The most guest RAM a machine can have: RAM lives in one WebAssembly.Memory behind the architectural state
 * (RAM_OFFSET, 64 KiB), and a wasm32 memory holds at most 65536 pages of 64 KiB, 4 GiB. So 4 GiB - 64 KiB
 * (4095.9375 MiB). Offsets into that memory reach 2^32 - 1, past int32: the hart takes them unsigned.
 */
export const MAX_MEMORY_BYTES = 65536 * WASM_PAGE - RAM_OFFSET;
/** The limits of a machine's RAM, in words, for error messages. */
export const MEMORY_LIMITS = '1 MiB to 4 GiB - 64 KiB, a multiple of 4 KiB';
/** Whether a machine can have this many bytes of RAM (MEMORY_LIMITS). */
export function memorySupported(bytes: number): boolean {
  return Number.isSafeInteger(bytes) && bytes >= 1 << 20 && bytes <= MAX_MEMORY_BYTES && bytes % 4096 === 0;
}
