/**
 * The run's capture as a classic libpcap file (the format of tcpdump -w, read by
 * Wireshark, tshark, tcpdump -r): a 24-byte global header, then per frame a
 * 16-byte record header and the frame bytes. Written little-endian (readers take either order)
 * with magic a1b2c3d4 (microsecond timestamps), version 2.4, snaplen 262144.
 *
 *   global header: magic u32 | major u16 | minor u16 | thiszone i32 | sigfigs u32 | snaplen u32 | network u32
 *   record header: ts_sec u32 | ts_usec u32 | incl_len u32 | orig_len u32
 *
 * The writer flushes every record with a write(2), so a run stopped by SIGINT
 * or a crash leaves a file that is valid up to its last whole frame.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { CapturedFrame } from './target.js';

export const PCAP_MAGIC = 0xa1b2c3d4;
export const PCAP_SNAPLEN = 262144;
/** LINKTYPE_ETHERNET: what `tx`/`rx` carry. */
export const LINKTYPE_ETHERNET = 1;
const GLOBAL_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;

/** A file that is not a classic pcap file, or is cut short: names the offset and the bytes there. */
export class PcapFormatError extends Error {
  constructor(message: string, bytes: Uint8Array, offset: number) {
    const at = Buffer.from(bytes.subarray(offset, offset + 16)).toString('hex');
    super(`${message} at offset ${offset} (bytes there: ${at || '<end of file>'})`);
    this.name = 'PcapFormatError';
  }
}

export function encodePcapHeader(linktype: number): Buffer {
  const b = Buffer.alloc(GLOBAL_HEADER_LEN);
  b.writeUInt32LE(PCAP_MAGIC, 0);
  b.writeUInt16LE(2, 4);
  b.writeUInt16LE(4, 6);
  b.writeInt32LE(0, 8);
  b.writeUInt32LE(0, 12);
  b.writeUInt32LE(PCAP_SNAPLEN, 16);
  b.writeUInt32LE(linktype, 20);
  return b;
}

/** One record: header + frame bytes, cut to the snaplen (orig_len keeps the real length). */
export function encodePcapRecord(frame: CapturedFrame): Buffer {
  if (!Number.isFinite(frame.tsUs) || frame.tsUs < 0) throw new RangeError(`bad frame timestamp ${frame.tsUs}`);
  const tsUs = Math.round(frame.tsUs);
  const incl = Math.min(frame.data.length, PCAP_SNAPLEN);
  const b = Buffer.alloc(RECORD_HEADER_LEN + incl);
  b.writeUInt32LE(Math.floor(tsUs / 1e6), 0);
  b.writeUInt32LE(tsUs % 1e6, 4);
  b.writeUInt32LE(incl, 8);
  b.writeUInt32LE(Math.max(frame.origLen ?? 0, frame.data.length), 12);
  b.set(frame.data.subarray(0, incl), RECORD_HEADER_LEN);
  return b;
}

/**
 * Streaming writer for long runs: `write()` appends one frame at once.
 * A classic pcap file holds one link type; a frame of another type is a harness fault.
 */
export class PcapWriter {
  private fd: number | null;
  private count = 0;

  constructor(readonly path: string, readonly linktype: number = LINKTYPE_ETHERNET) {
    this.fd = openSync(path, 'w');
    writeSync(this.fd, encodePcapHeader(linktype));
  }

  get framesWritten(): number {
    return this.count;
  }

  write(frame: CapturedFrame): void {
    if (this.fd === null) throw new Error(`pcap ${this.path} is closed`);
    if (frame.linktype !== this.linktype) {
      throw new Error(`pcap ${this.path} has link type ${this.linktype}; cannot add a frame of link type ${frame.linktype}`);
    }
    writeSync(this.fd, encodePcapRecord(frame));
    this.count++;
  }

  writeAll(frames: Iterable<CapturedFrame>): void {
    for (const f of frames) this.write(f);
  }

  /** Idempotent. */
  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    closeSync(fd);
  }
}

/** Writes `frames` (all of one link type; Ethernet when empty) to `path` as one pcap file. */
export function writePcap(path: string, frames: readonly CapturedFrame[]): void {
  const w = new PcapWriter(path, frames[0]?.linktype ?? LINKTYPE_ETHERNET);
  try {
    w.writeAll(frames);
  } finally {
    w.close();
  }
}

/** Parses a classic pcap file of either byte order (microsecond magic only). */
export function parsePcap(bytes: Uint8Array): { linktype: number; snaplen: number; frames: CapturedFrame[] } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < GLOBAL_HEADER_LEN) throw new PcapFormatError('pcap global header cut short', bytes, 0);
  let le: boolean;
  if (buf.readUInt32LE(0) === PCAP_MAGIC) le = true;
  else if (buf.readUInt32BE(0) === PCAP_MAGIC) le = false;
  else throw new PcapFormatError('not a microsecond pcap file (magic)', bytes, 0);
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const snaplen = u32(16);
  const linktype = u32(20);
  const frames: CapturedFrame[] = [];
  let o = GLOBAL_HEADER_LEN;
  while (o < buf.length) {
    if (o + RECORD_HEADER_LEN > buf.length) throw new PcapFormatError('pcap record header cut short', bytes, o);
    const incl = u32(o + 8);
    if (o + RECORD_HEADER_LEN + incl > buf.length) throw new PcapFormatError(`pcap record of ${incl} bytes cut short`, bytes, o);
    frames.push({
      tsUs: u32(o) * 1e6 + u32(o + 4),
      linktype,
      data: new Uint8Array(buf.subarray(o + RECORD_HEADER_LEN, o + RECORD_HEADER_LEN + incl)),
    });
    o += RECORD_HEADER_LEN + incl;
  }
  return { linktype, snaplen, frames };
}

export function readPcap(path: string): ReturnType<typeof parsePcap> {
  return parsePcap(readFileSync(path));
}
