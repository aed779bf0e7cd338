/**
 * IPv4 header (RFC 791 §3.1): emit. Field offsets in one table, as smoltcp's
 * `mod field`.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |Version|  IHL  |Type of Service|          Total Length         |
 *    |         Identification        |Flags|      Fragment Offset    |
 *    |  Time to Live |    Protocol   |         Header Checksum       |
 *    |                       Source Address                          |
 *    |                    Destination Address                        |
 *    |                    Options                    |    Padding    |
 */
import * as checksum from './checksum.js';
import { WireError } from './error.js';

export const field = {
  verIhl: 0,
  tos: 1,
  totalLength: 2,
  id: 4,
  flagsFrag: 6,
  ttl: 8,
  protocol: 9,
  checksum: 10,
  src: 12,
  dst: 16,
} as const;

export const HEADER_LEN = 20;
/** RFC 791 §3.2: every host must accept a 68-byte datagram; `inetdev_valid_mtu`. */
export const MIN_MTU = 68;
export const MAX_OPTIONS = 40;
export const FLAG_DF = 0x4000;
export const FLAG_MF = 0x2000;

export interface Ipv4Repr {
  tos: number;
  id: number;
  df: boolean;
  mf: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragOffset: number;
  ttl: number;
  protocol: number;
  src: number;
  dst: number;
  /** Option bytes, already padded to a multiple of 4. */
  options: Uint8Array;
}

/** Header checksum over `hdr[0, ihl*4)` with the checksum field taken as zero (`ip_send_check`). */
export function headerChecksum(hdr: Uint8Array): number {
  const ihl = (hdr[0]! & 0x0f) * 4;
  const sum = checksum.data(hdr, 0, 0, field.checksum) + checksum.data(hdr, 0, field.checksum + 2, ihl);
  return checksum.finish(sum);
}

/** Emit header + payload, with tot_len and a valid header checksum (`__ip_local_out`). */
export function emit(repr: Ipv4Repr, payload: Uint8Array): Uint8Array {
  const hlen = HEADER_LEN + repr.options.length;
  const out = new Uint8Array(hlen + payload.length);
  const v = new DataView(out.buffer);
  out[field.verIhl] = 0x40 | (hlen >> 2);
  out[field.tos] = repr.tos;
  v.setUint16(field.totalLength, out.length);
  v.setUint16(field.id, repr.id);
  v.setUint16(field.flagsFrag, (repr.df ? FLAG_DF : 0) | (repr.mf ? FLAG_MF : 0) | (repr.fragOffset >> 3));
  out[field.ttl] = repr.ttl;
  out[field.protocol] = repr.protocol;
  v.setUint32(field.src, repr.src);
  v.setUint32(field.dst, repr.dst);
  out.set(repr.options, HEADER_LEN);
  out.set(payload, hlen);
  v.setUint16(field.checksum, headerChecksum(out));
  return out;
}

// ---------------------------------------------------------------------------
// Parse (smoltcp `Packet::check_len` + `Ipv4Repr::parse`, without its checksum
// and fragment refusals: an oracle must describe what it was given).

export const VERSION = 4;
/** IANA protocol numbers the send path writes (`IPPROTO_*`). */
export const PROTO_ICMP = 1;
export const PROTO_UDP = 17;
export const PROTO_UDPLITE = 136;
/** The reserved ("evil") bit of the flags field, RFC 791 §3.1 bit 0. */
export const FLAG_RESERVED = 0x8000;
export const FRAG_OFFSET_MASK = 0x1fff;

/** What `parse` reads on top of an `Ipv4Repr`: the fields emit derives. */
export interface Ipv4ParsedRepr extends Ipv4Repr {
  version: number;
  /** The IHL field as sent, in 32-bit words (header length = ihl * 4). */
  ihl: number;
  totalLength: number;
  /** The header checksum as sent (not verified here; see `checksumValid`). */
  checksum: number;
  /** The reserved flag bit, which a correct sender leaves clear. */
  reserved: boolean;
}

/**
 * Validate once that `bytes` hold a whole IPv4 datagram (smoltcp
 * `check_len`): version 4, IHL ≥ 5, header within the buffer, total length
 * covering the header and within the buffer. Bytes after total length
 * (link-layer padding) are allowed and ignored by `parse`.
 */
export function checkLen(bytes: Uint8Array): void {
  if (bytes.length < HEADER_LEN) throw new WireError(`IPv4: shorter than the ${HEADER_LEN}-byte header`, bytes);
  const version = bytes[field.verIhl]! >> 4;
  if (version !== VERSION) throw new WireError(`IPv4: version ${version}`, bytes, field.verIhl);
  const hlen = (bytes[field.verIhl]! & 0x0f) * 4;
  if (hlen < HEADER_LEN) throw new WireError(`IPv4: IHL ${hlen / 4} is below 5`, bytes, field.verIhl);
  if (hlen > bytes.length) throw new WireError(`IPv4: IHL ${hlen / 4} runs past the end`, bytes, field.verIhl);
  const total = (bytes[field.totalLength]! << 8) | bytes[field.totalLength + 1]!;
  if (total < hlen) throw new WireError(`IPv4: total length ${total} is shorter than the header (${hlen})`, bytes, field.totalLength);
  if (total > bytes.length) throw new WireError(`IPv4: total length ${total} runs past the end`, bytes, field.totalLength);
}

/** Parse a datagram into its representation and payload (`payload` is a view, not a copy). */
export function parse(bytes: Uint8Array): { repr: Ipv4ParsedRepr; payload: Uint8Array } {
  checkLen(bytes);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ihl = bytes[field.verIhl]! & 0x0f;
  const hlen = ihl * 4;
  const totalLength = v.getUint16(field.totalLength);
  const flagsFrag = v.getUint16(field.flagsFrag);
  const repr: Ipv4ParsedRepr = {
    version: bytes[field.verIhl]! >> 4,
    ihl,
    tos: bytes[field.tos]!,
    totalLength,
    id: v.getUint16(field.id),
    reserved: (flagsFrag & FLAG_RESERVED) !== 0,
    df: (flagsFrag & FLAG_DF) !== 0,
    mf: (flagsFrag & FLAG_MF) !== 0,
    fragOffset: (flagsFrag & FRAG_OFFSET_MASK) * 8,
    ttl: bytes[field.ttl]!,
    protocol: bytes[field.protocol]!,
    checksum: v.getUint16(field.checksum),
    src: v.getUint32(field.src),
    dst: v.getUint32(field.dst),
    options: bytes.slice(HEADER_LEN, hlen),
  };
  return { repr, payload: bytes.subarray(hlen, totalLength) };
}

/**
 * Whether the header checksum verifies over `bytes[0, ihl*4)` (`ip_fast_csum`
 * == 0 on receive). False when the header does not fit in the buffer.
 */
export function checksumValid(bytes: Uint8Array): boolean {
  if (bytes.length < HEADER_LEN) return false;
  const hlen = (bytes[field.verIhl]! & 0x0f) * 4;
  if (hlen < HEADER_LEN || hlen > bytes.length) return false;
  return headerChecksum(bytes) === ((bytes[field.checksum]! << 8) | bytes[field.checksum + 1]!);
}
