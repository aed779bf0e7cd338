/**
 * A classic pcap stream (`tcpdump -U -w -`) parsed as it arrives: the 24-byte
 * global header once, then records (16-byte header + bytes), split across
 * chunks anywhere. The file format is pcapfile.ts's; this reads it
 * incrementally, either byte order, microsecond (a1b2c3d4) or nanosecond
 * (a1b23c4d) timestamps.
 */
import type { CapturedFrame } from '../target.js';

const GLOBAL_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;
const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
/** A record longer than this is a corrupt stream, not a frame (tcpdump's largest snaplen is 262144). */
const MAX_RECORD = 1 << 20;

export class PcapStreamError extends Error {
  override name = 'PcapStreamError';
}

export class PcapStreamParser {
  private buf: Buffer = Buffer.alloc(0);
  private header: { le: boolean; ns: boolean; snaplen: number; linktype: number } | null = null;
  private count = 0;

  /** The stream's link type once its header arrived. */
  get linktype(): number | null {
    return this.header?.linktype ?? null;
  }

  get snaplen(): number | null {
    return this.header?.snaplen ?? null;
  }

  /** Records parsed so far. */
  get frames(): number {
    return this.count;
  }

  /** Bytes received that do not yet make a whole record. */
  get pendingBytes(): number {
    return this.buf.length;
  }

  /** Takes the next chunk; returns every record it completed, in order. Throws PcapStreamError on a corrupt stream. */
  push(chunk: Uint8Array): CapturedFrame[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const out: CapturedFrame[] = [];
    let o = 0;
    if (!this.header) {
      if (this.buf.length < GLOBAL_HEADER_LEN) return out;
      const le = this.buf.readUInt32LE(0);
      const be = this.buf.readUInt32BE(0);
      let h: { le: boolean; ns: boolean };
      if (le === MAGIC_US || le === MAGIC_NS) h = { le: true, ns: le === MAGIC_NS };
      else if (be === MAGIC_US || be === MAGIC_NS) h = { le: false, ns: be === MAGIC_NS };
      else throw new PcapStreamError(`not a pcap stream: magic ${this.buf.subarray(0, 4).toString('hex')} (first bytes: ${JSON.stringify(this.buf.subarray(0, 64).toString('latin1'))})`);
      const u32 = (x: number): number => (h.le ? this.buf.readUInt32LE(x) : this.buf.readUInt32BE(x));
      this.header = { ...h, snaplen: u32(16), linktype: u32(20) };
      o = GLOBAL_HEADER_LEN;
    }
    const { le, ns, linktype } = this.header;
    const u32 = (x: number): number => (le ? this.buf.readUInt32LE(x) : this.buf.readUInt32BE(x));
    while (this.buf.length - o >= RECORD_HEADER_LEN) {
      const incl = u32(o + 8);
      if (incl > MAX_RECORD) throw new PcapStreamError(`pcap record ${this.count} claims ${incl} bytes: corrupt stream`);
      if (this.buf.length - o < RECORD_HEADER_LEN + incl) break;
      const sub = u32(o + 4);
      out.push({
        tsUs: u32(o) * 1e6 + (ns ? Math.floor(sub / 1000) : sub),
        linktype,
        data: new Uint8Array(this.buf.subarray(o + RECORD_HEADER_LEN, o + RECORD_HEADER_LEN + incl)),
        origLen: u32(o + 12),
      });
      this.count++;
      o += RECORD_HEADER_LEN + incl;
    }
    // Copy the remainder, so frames handed out do not pin the whole chunk history.
    this.buf = o === 0 ? this.buf : Buffer.from(this.buf.subarray(o));
    return out;
  }
}
