/**
 * UDP header (RFC 768) and UDP-Lite (RFC 3828), which shares the layout but
 * carries the checksum coverage where UDP carries the length.
 *
 *     0      7 8     15 16    23 24    31
 *    +--------+--------+--------+--------+
 *    |   Source Port   |   Dest. Port    |
 *    +--------+--------+--------+--------+
 *    |  Length (UDP)   |    Checksum     |
 *    | Coverage (Lite) |                 |
 *    +--------+--------+--------+--------+
 */
import * as checksum from './checksum.js';
import { WireError } from './error.js';
import { PROTO_UDPLITE } from './ipv4.js';

export const field = {
  srcPort: 0,
  dstPort: 2,
  length: 4,
  checksum: 6,
} as const;

export const HEADER_LEN = field.checksum + 2;

/**
 * What goes on the wire in place of a computed checksum of 0 (`CSUM_MANGLED_0`):
 * RFC 768 reserves a transmitted 0 for "no checksum", so a sum that comes out
 * as 0 is sent as its other one's-complement form, 0xffff
 * (`udp_send_skb`, `udp4_hwcsum`; RFC 3828 §3.1 keeps it for UDP-Lite).
 */
export const CSUM_MANGLED_0 = 0xffff;

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /**
   * UDP-Lite only: the value for the coverage field (RFC 3828 §3.1; 0 = the
   * whole datagram). Absent: the field holds the datagram length, as in UDP
   * and in UDP-Lite with full coverage (`udplite_csum`).
   */
  coverage?: number;
}

export interface UdpParsedRepr extends UdpRepr {
  /** The length field as sent (for UDP-Lite, the same number as `coverage`). */
  length: number;
  checksum: number;
}

/** Header + payload with the length (or coverage) field set and checksum 0; see `fillChecksum`. */
export function emit(repr: UdpRepr, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_LEN + payload.length);
  const v = new DataView(out.buffer);
  v.setUint16(field.srcPort, repr.srcPort);
  v.setUint16(field.dstPort, repr.dstPort);
  v.setUint16(field.length, repr.coverage ?? (out.length & 0xffff));
  out.set(payload, HEADER_LEN);
  return out;
}

/**
 * Check the header fits, and for UDP that the length field covers the header
 * and fits in `bytes`; for UDP-Lite that a nonzero coverage covers the header
 * and fits (RFC 3828 §3.1).
 */
export function checkLen(bytes: Uint8Array, lite = false): void {
  if (bytes.length < HEADER_LEN) throw new WireError(`UDP: shorter than the ${HEADER_LEN}-byte header`, bytes);
  const len = (bytes[field.length]! << 8) | bytes[field.length + 1]!;
  if (lite) {
    if (len !== 0 && (len < HEADER_LEN || len > bytes.length)) throw new WireError(`UDP-Lite: coverage ${len} is invalid`, bytes, field.length);
  } else {
    if (len < HEADER_LEN) throw new WireError(`UDP: length ${len} is shorter than the header`, bytes, field.length);
    if (len > bytes.length) throw new WireError(`UDP: length ${len} runs past the end`, bytes, field.length);
  }
}

/** Parse a UDP (or, with `lite`, UDP-Lite) segment. UDP's payload ends at its length field; UDP-Lite's at the end of `bytes`. */
export function parse(bytes: Uint8Array, lite = false): { repr: UdpParsedRepr; payload: Uint8Array } {
  checkLen(bytes, lite);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = v.getUint16(field.length);
  const repr: UdpParsedRepr = {
    srcPort: v.getUint16(field.srcPort),
    dstPort: v.getUint16(field.dstPort),
    length,
    checksum: v.getUint16(field.checksum),
  };
  if (lite) repr.coverage = length;
  return { repr, payload: bytes.subarray(HEADER_LEN, lite ? bytes.length : length) };
}

/**
 * The checksum over the pseudo-header and `segment[0, coverage)` with the
 * checksum field taken as 0, before the 0 → 0xffff mapping. The
 * pseudo-header length is always the whole segment, also for UDP-Lite
 * (RFC 3828 §3.2; `csum_tcpudp_magic(saddr, daddr, len, proto, csum)` in `udp_send_skb`).
 */
export function computeChecksum(src: number, dst: number, protocol: number, segment: Uint8Array, coverage = segment.length): number {
  const end = Math.min(coverage === 0 ? segment.length : coverage, segment.length);
  const sum = checksum.combine(
    checksum.pseudoHeader(src, dst, protocol, segment.length),
    checksum.data(segment, 0, 0, Math.min(field.checksum, end)),
    end > field.checksum + 2 ? checksum.data(segment, 0, field.checksum + 2, end) : 0,
  );
  return checksum.finish(sum);
}

/**
 * Write the checksum into `segment` and return it (`udp_send_skb` /
 * `udp4_hwcsum`). `coverage`: UDP-Lite's covered bytes (`udplite_csum`:
 * the `pcslen` when it is below the length, else all; 0 = all).
 * A computed 0 is sent as 0xffff (`CSUM_MANGLED_0`, see above).
 */
export function fillChecksum(src: number, dst: number, protocol: number, segment: Uint8Array, coverage?: number): number {
  const c = computeChecksum(src, dst, protocol, segment, coverage);
  const sent = c === 0 ? CSUM_MANGLED_0 : c;
  segment[field.checksum] = sent >> 8;
  segment[field.checksum + 1] = sent & 0xff;
  return sent;
}

/**
 * Whether the segment's checksum verifies (receive side, `udp4_csum_init` /
 * `udplite_checksum_init`): for UDP a transmitted 0 means "none" and passes;
 * UDP-Lite has no such value (RFC 3828 §3.1). Coverage comes from the header.
 */
export function checksumValid(src: number, dst: number, protocol: number, segment: Uint8Array): boolean {
  if (segment.length < HEADER_LEN) return false;
  const sent = (segment[field.checksum]! << 8) | segment[field.checksum + 1]!;
  const lite = protocol === PROTO_UDPLITE;
  if (!lite && sent === 0) return true;
  const coverage = lite ? (segment[field.length]! << 8) | segment[field.length + 1]! : segment.length;
  const c = computeChecksum(src, dst, protocol, segment, coverage);
  return sent === (c === 0 ? CSUM_MANGLED_0 : c);
}
