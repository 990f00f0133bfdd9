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
export const STATE_BYTES = 4096;
/** Guest RAM starts at this byte offset of the memory (one WebAssembly page, 64 KiB, keeps RAM page-aligned). */
export const RAM_OFFSET = 65536;
export const WASM_PAGE = 65536;
