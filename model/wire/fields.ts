/**
 * A packet as a flat list of named fields, for diffs and reports: every byte
 * of the buffer belongs to exactly one field (bit fields share their byte),
 * so comparing two lists field by field compares the packets byte for byte.
 * Tolerant of anything: a kernel under test may send malformed bytes, and the
 * diff must still say where they differ.
 *
 * Names: `ip.*` for the header (bit fields by bit: `ip.df`, `ip.mf`,
 * `ip.frag_offset`), `ip.options[i].*` per option (`type`, `length`,
 * `pointer`, `overflow`, `flags`, `addr[j]`, `time[j]`, `data`, `padding`),
 * then `udp.*`, `udplite.*` or `icmp.*` on the first fragment, then
 * `payload`, then `trailer` for bytes past the total length.
 */
import * as ipv4 from './ipv4.js';
import { ipOptions } from './ipopt.js';
import * as udp from './udp.js';
import * as icmp from './icmp.js';

export interface Field {
  name: string;
  /** Byte offset from the start of the IPv4 header. */
  offset: number;
  /** Bytes the field touches. */
  length: number;
  /**
   * Numbers are the field in its domain unit (`ip.frag_offset` in bytes,
   * flags as 0/1); byte strings for payloads and opaque option data.
   */
  value: number | Uint8Array;
  /** Bit fields: the field's bits within the big-endian `length`-byte word at `offset`. */
  mask?: number;
  /** How to print the value: an IPv4 address. */
  format?: 'ip4';
}

/** Decompose an IPv4 datagram (from the first header byte) into named fields. */
export function fieldsOf(bytes: Uint8Array): Field[] {
  const out: Field[] = [];
  const n = bytes.length;
  const word = (offset: number, length: number): number => {
    let v = 0;
    for (let i = 0; i < length; i++) v = v * 256 + bytes[offset + i]!;
    return v;
  };
  let pos = 0;
  /** A whole-byte field, if it fits; returns whether it did. */
  const num = (name: string, offset: number, length: number, extra?: Partial<Field>): boolean => {
    if (offset + length > n) return false;
    out.push({ name, offset, length, value: word(offset, length), ...extra });
    pos = Math.max(pos, offset + length);
    return true;
  };
  const bits = (name: string, offset: number, length: number, mask: number, scale = 1): void => {
    if (offset + length > n) return;
    const shift = Math.log2(mask & -mask);
    out.push({ name, offset, length, value: ((word(offset, length) & mask) / 2 ** shift) * scale, mask });
    pos = Math.max(pos, offset + length);
  };
  const raw = (name: string, offset: number, end: number): void => {
    const e = Math.min(end, n);
    if (e < offset) return;
    out.push({ name, offset, length: e - offset, value: bytes.slice(offset, e) });
    pos = Math.max(pos, e);
  };

  const f = ipv4.field;
  bits('ip.version', f.verIhl, 1, 0xf0);
  bits('ip.ihl', f.verIhl, 1, 0x0f);
  num('ip.tos', f.tos, 1);
  num('ip.total_length', f.totalLength, 2);
  num('ip.id', f.id, 2);
  bits('ip.reserved', f.flagsFrag, 2, ipv4.FLAG_RESERVED);
  bits('ip.df', f.flagsFrag, 2, ipv4.FLAG_DF);
  bits('ip.mf', f.flagsFrag, 2, ipv4.FLAG_MF);
  bits('ip.frag_offset', f.flagsFrag, 2, ipv4.FRAG_OFFSET_MASK, 8);
  num('ip.ttl', f.ttl, 1);
  num('ip.protocol', f.protocol, 1);
  num('ip.checksum', f.checksum, 2);
  num('ip.src', f.src, 4, { format: 'ip4' });
  num('ip.dst', f.dst, 4, { format: 'ip4' });
  if (n < ipv4.HEADER_LEN) {
    if (pos < n) raw('ip.truncated', pos, n);
    return out;
  }

  // Options: whatever the IHL claims, clipped to the buffer.
  const hlen = Math.max(ipv4.HEADER_LEN, Math.min((bytes[f.verIhl]! & 0x0f) * 4, n));
  for (const opt of ipOptions(bytes, ipv4.HEADER_LEN, hlen)) {
    const p = `ip.options[${opt.index}]`;
    const end = opt.offset + opt.len;
    num(`${p}.type`, opt.offset, 1);
    if (opt.name === 'EOL') {
      if (end > pos) raw(`${p}.padding`, pos, end);
      continue;
    }
    if (opt.lenField !== undefined) num(`${p}.length`, opt.offset + 1, 1);
    if (opt.malformed === undefined) {
      if (opt.pointer !== undefined) num(`${p}.pointer`, opt.offset + 2, 1);
      if (opt.flags !== undefined) {
        bits(`${p}.overflow`, opt.offset + 3, 1, 0xf0);
        bits(`${p}.flags`, opt.offset + 3, 1, 0x0f);
      }
      for (const s of opt.slots ?? []) {
        num(`${p}.${s.kind}[${s.entry}]`, s.offset, 4, s.kind === 'addr' ? { format: 'ip4' } : {});
      }
    }
    if (end > pos) raw(`${p}.data`, pos, end);
  }

  const total = word(f.totalLength, 2);
  const payloadEnd = total >= hlen && total <= n ? total : n;
  const fragOffset = word(f.flagsFrag, 2) & ipv4.FRAG_OFFSET_MASK;
  const protocol = bytes[f.protocol]!;
  pos = hlen;
  if (fragOffset === 0) {
    const fits = (o: number, l: number) => hlen + o + l <= payloadEnd;
    if (protocol === ipv4.PROTO_UDP || protocol === ipv4.PROTO_UDPLITE) {
      const p = protocol === ipv4.PROTO_UDP ? 'udp' : 'udplite';
      const u = udp.field;
      if (fits(u.srcPort, 2)) num(`${p}.src_port`, hlen + u.srcPort, 2);
      if (fits(u.dstPort, 2)) num(`${p}.dst_port`, hlen + u.dstPort, 2);
      if (fits(u.length, 2)) num(protocol === ipv4.PROTO_UDP ? 'udp.length' : 'udplite.coverage', hlen + u.length, 2);
      if (fits(u.checksum, 2)) num(`${p}.checksum`, hlen + u.checksum, 2);
    } else if (protocol === ipv4.PROTO_ICMP) {
      const c = icmp.field;
      if (fits(c.type, 1)) num('icmp.type', hlen + c.type, 1);
      if (fits(c.code, 1)) num('icmp.code', hlen + c.code, 1);
      if (fits(c.checksum, 2)) num('icmp.checksum', hlen + c.checksum, 2);
      if (icmp.hasIdSeq(bytes[hlen + c.type] ?? -1)) {
        if (fits(c.id, 2)) num('icmp.id', hlen + c.id, 2);
        if (fits(c.seq, 2)) num('icmp.seq', hlen + c.seq, 2);
      } else if (fits(c.id, 4)) {
        raw('icmp.rest_of_header', hlen + c.id, hlen + c.id + 4);
      }
    }
  }
  raw('payload', pos, payloadEnd);
  if (payloadEnd < n) raw('trailer', payloadEnd, n);
  return out;
}

/** Field values equal (numbers by value, byte strings byte for byte). */
export function sameValue(a: Field['value'], b: Field['value']): boolean {
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
