/**
 * The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit words.
 * IPv4 headers, ICMP, UDP and TCP all use it; UDP and TCP add a pseudo-header (RFC 768, RFC 793 3.1).
 */

/** Adds bytes [start, end) of `b` to a running 32-bit-folded sum (big-endian words, odd tail padded). */
export function sumBytes(b: Uint8Array, start: number, end: number, sum = 0): number {
  let i = start;
  for (; i + 1 < end; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (i < end) sum += b[i] << 8;
  // Fold now and then so the sum stays a small integer.
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Folds a sum to 16 bits and complements it: the value to store in a checksum field. */
export function finish(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return (~sum) & 0xffff;
}

/** The checksum of b[start, end). A header or message that carries a valid checksum sums to 0. */
export function checksum(b: Uint8Array, start = 0, end = b.length): number {
  return finish(sumBytes(b, start, end));
}

/** Sum of the IPv4 pseudo-header for UDP/TCP: source, destination, protocol, length. */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/** The UDP/TCP checksum of `segment` (header with its checksum field as it is, plus data). */
export function transportChecksum(src: number, dst: number, protocol: number, segment: Uint8Array, start = 0, end = segment.length): number {
  return finish(sumBytes(segment, start, end, pseudoHeaderSum(src, dst, protocol, end - start)));
}
