/**
 * The Internet checksum (RFC 1071) in one module, as smoltcp's `checksum`:
 * `data` sums 16-bit big-endian words, `combine` folds sums, `pseudoHeader`
 * adds the IPv4 pseudo-header. Kernel counterparts: `csum_partial`,
 * `csum_fold`, `csum_tcpudp_nofold` (include/net/checksum.h).
 */

/** One's-complement sum of `bytes` (unfolded, 32-bit accumulator), starting at `initial`. */
export function data(bytes: Uint8Array, initial = 0, start = 0, end = bytes.length): number {
  // Even and odd bytes summed apart (high and low halves of each 16-bit word),
  // then combined: the same sum as word by word, with less work per byte.
  let hi = 0;
  let lo = 0;
  let i = start;
  for (; i + 7 < end; i += 8) {
    hi += bytes[i]! + bytes[i + 2]! + bytes[i + 4]! + bytes[i + 6]!;
    lo += bytes[i + 1]! + bytes[i + 3]! + bytes[i + 5]! + bytes[i + 7]!;
  }
  for (; i + 1 < end; i += 2) {
    hi += bytes[i]!;
    lo += bytes[i + 1]!;
  }
  if (i < end) hi += bytes[i]!;
  // At most 64 KiB of bytes: hi * 256 + lo stays far below 2^53.
  return fold(initial + hi * 256 + lo);
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
