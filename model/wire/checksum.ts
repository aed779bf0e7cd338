/**
 * The Internet checksum (RFC 1071) in one module, as smoltcp's `checksum`:
 * `data` sums 16-bit big-endian words, `combine` folds sums, `pseudoHeader`
 * adds the IPv4 pseudo-header. Kernel counterparts: `csum_partial`,
 * `csum_fold`, `csum_tcpudp_nofold` (include/net/checksum.h).
 */

/** One's-complement sum of `bytes` (unfolded, 32-bit accumulator), starting at `initial`. */
export function data(bytes: Uint8Array, initial = 0, start = 0, end = bytes.length): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  // Fold early so the accumulator never leaves the safe integer range.
  return (sum & 0xffff) + Math.floor(sum / 0x10000);
}

/** Fold a sum to 16 bits (end-around carry). */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum field value: the complement of the folded sum. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

export function combine(...sums: number[]): number {
  return fold(sums.reduce((a, b) => a + b, 0));
}

/** Sum of the IPv4 pseudo-header (`csum_tcpudp_nofold`): src, dst, zero, protocol, length. */
export function pseudoHeader(src: number, dst: number, protocol: number, length: number): number {
  return fold((src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length);
}
