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
