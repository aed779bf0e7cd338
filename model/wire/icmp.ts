/**
 * ICMP echo (RFC 792), as a ping socket sends it (`ping_v4_sendmsg`;
 * `ping_push_pending_frames` folds the checksum over header + data).
 *
 *     0      7 8     15 16    23 24    31
 *    +--------+--------+--------+--------+
 *    |  Type  |  Code  |    Checksum     |
 *    +--------+--------+--------+--------+
 *    |   Identifier    | Sequence Number |
 *    +--------+--------+--------+--------+
 *    |  Data ...
 *
 * Unlike UDP there is no "no checksum" value, so a computed 0 is sent as 0.
 */
import * as checksum from './checksum.js';
import { WireError } from './error.js';

export const field = {
  type: 0,
  code: 1,
  checksum: 2,
  id: 4,
  seq: 6,
} as const;

export const HEADER_LEN = field.seq + 2;

export const ICMP_ECHOREPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_ECHO = 8;
export const ICMP_TIME_EXCEEDED = 11;

/** Types whose second word is identifier + sequence (RFC 792: echo, timestamp, information). */
export function hasIdSeq(type: number): boolean {
  return type === ICMP_ECHO || type === ICMP_ECHOREPLY || (type >= 13 && type <= 16);
}

export interface EchoRepr {
  type: number;
  code: number;
  id: number;
  seq: number;
}

export interface EchoParsedRepr extends EchoRepr {
  checksum: number;
}

/** The checksum over the whole message with the checksum field taken as 0. */
export function computeChecksum(message: Uint8Array): number {
  const sum = checksum.combine(
    checksum.data(message, 0, 0, Math.min(field.checksum, message.length)),
    checksum.data(message, 0, Math.min(field.checksum + 2, message.length), message.length),
  );
  return checksum.finish(sum);
}

/** Write the checksum into `message` and return it. */
export function fillChecksum(message: Uint8Array): number {
  const c = computeChecksum(message);
  message[field.checksum] = c >> 8;
  message[field.checksum + 1] = c & 0xff;
  return c;
}

export function checksumValid(message: Uint8Array): boolean {
  if (message.length < field.checksum + 2) return false;
  return computeChecksum(message) === ((message[field.checksum]! << 8) | message[field.checksum + 1]!);
}

/** Header + data with a valid checksum. */
export function emit(repr: EchoRepr, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_LEN + data.length);
  const v = new DataView(out.buffer);
  out[field.type] = repr.type;
  out[field.code] = repr.code;
  v.setUint16(field.id, repr.id);
  v.setUint16(field.seq, repr.seq);
  out.set(data, HEADER_LEN);
  fillChecksum(out);
  return out;
}

export function checkLen(bytes: Uint8Array): void {
  if (bytes.length < HEADER_LEN) throw new WireError(`ICMP: shorter than the ${HEADER_LEN}-byte echo header`, bytes);
}

/** Parse an echo header; the data runs to the end of `bytes`. The checksum is read, not verified. */
export function parse(bytes: Uint8Array): { repr: EchoParsedRepr; data: Uint8Array } {
  checkLen(bytes);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const repr: EchoParsedRepr = {
    type: bytes[field.type]!,
    code: bytes[field.code]!,
    checksum: v.getUint16(field.checksum),
    id: v.getUint16(field.id),
    seq: v.getUint16(field.seq),
  };
  return { repr, data: bytes.subarray(HEADER_LEN) };
}
