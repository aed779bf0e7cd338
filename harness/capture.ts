/**
 * A small wrapper over the `cap` libpcap binding: open a device with a BPF
 * filter, one callback per frame with a timestamp, counts, close.
 *
 * What `cap` does not give, and what stands in for it:
 * - per-frame pcap timestamps: the frame is stamped with the wall clock when
 *   libpcap hands it to JavaScript (immediate mode, so within a few hundred
 *   microseconds of the kernel's stamp; good for ordering, the pcap file and
 *   judging IP timestamp options to the millisecond);
 * - pcap_stats() drop counters: `kernelRxPackets()` reads the device's own
 *   receive counter from /proc/self/net/dev (per network namespace), so a
 *   capture on a device nothing else reads can count what it missed: frames the
 *   device received minus frames captured (it also counts what libpcap's
 *   counter would miss, such as frames dropped in the backlog before the tap).
 * - cap's snaplen is fixed at 65535 and it does not pass the wire length on:
 *   a longer frame (only a GSO packet can be) arrives cut to exactly
 *   CAP_SNAPLEN bytes, which is how callers tell a cut (see `frameMayBeCut`).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { CapturedFrame } from './target.js';

interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): void;
  on(event: 'packet', listener: (nbytes: number, truncated: boolean) => void): void;
}
interface CapModule {
  Cap: { new (): CapHandle; deviceList(): Array<{ name: string }> };
}

const require = createRequire(import.meta.url);
let capModule: CapModule | undefined;
function loadCap(): CapModule {
  capModule ??= require('cap') as CapModule;
  return capModule;
}

/** cap's names for pcap_datalink() values, as LINKTYPE_ numbers for the pcap file. */
const LINKTYPES: Record<string, number> = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LINKTYPE_LINUX_SLL: 113,
  IEEE802_11_RADIO: 127,
};


/** cap's fixed snaplen. */
export const CAP_SNAPLEN = 65535;

/**
 * Whether a captured frame may be shorter than what went on the wire: its wire
 * length where the capture reports one (tcpdump's pcap `orig_len`), else a frame
 * of exactly cap's snaplen. A shorter frame whose IPv4 total length claims more
 * is whole: the header says what the kernel wrote (a raw IP_HDRINCL one, say).
 */
export function frameMayBeCut(f: CapturedFrame): boolean {
  return f.origLen !== undefined ? f.origLen > f.data.length : f.data.length >= CAP_SNAPLEN;
}
export function linktypeNumber(capName: string): number {
  const n = LINKTYPES[capName];
  if (n === undefined) throw new Error(`libpcap link type not supported: ${capName}`);
  return n;
}

/** Wall-clock time in microseconds since the epoch, with sub-millisecond resolution. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** Milliseconds since 00:00 UTC of the day of `tsUs` (the unit of IP timestamp options, RFC 791). */
export function msOfDay(tsUs: number): number {
  return Math.floor(tsUs / 1000) % 86_400_000;
}

export interface CaptureOptions {
  /** A libpcap device name: an interface in the caller's network namespace, or `any`. */
  device: string;
  /** BPF filter expression (pcap-filter(7)); empty = every frame. */
  filter?: string;
  /**
   * libpcap's ring buffer size in bytes (default RING_BYTES). cap opens in
   * immediate mode, so libpcap uses TPACKET_V2 with one 64 KB slot a frame
   * (snaplen 65535 on a device with offloads): the ring holds size / 65664
   * frames whatever their length.
   */
  bufferBytes?: number;
}

/**
 * 64 MiB: 1021 slots, room for a case's whole burst. One send is bounded by
 * 2 * sk_sndbuf of truesize (at most about 550 skbs), but the sends of a case
 * follow each other within microseconds on veth, faster than the reader
 * empties the ring (32 MiB, 511 slots, dropped 191 frames of a 702-frame case).
 */
export const RING_BYTES = 64 << 20;

export interface CaptureCounts {
  /** Frames handed to the callback. */
  frames: number;
  /** Frames that did not fit the copy buffer (cap's `truncated` flag). */
  truncated: number;
}

export type FrameListener = (frame: CapturedFrame, truncated: boolean) => void;

/** A live capture; frames arrive on the event loop, in the order libpcap read them. */
export class Capture {
  private handle: CapHandle | null;
  private readonly counts: CaptureCounts = { frames: 0, truncated: 0 };

  private constructor(handle: CapHandle, readonly device: string, readonly linktype: number) {
    this.handle = handle;
  }

  static open(options: CaptureOptions, onFrame: FrameListener): Capture {
    const { Cap } = loadCap();
    const handle = new Cap();
    // One frame's copy buffer: cap's snaplen (65535) plus room, so `truncated` never hides a cut.
    const buffer = Buffer.alloc(65536 + 256);
    let linkName: string;
    try {
      linkName = handle.open(options.device, options.filter ?? '', options.bufferBytes ?? RING_BYTES, buffer);
    } catch (e) {
      throw new Error(`libpcap could not open ${options.device}: ${(e as Error).message}`);
    }
    let linktype: number;
    try {
      linktype = linktypeNumber(linkName);
    } catch (e) {
      handle.close();
      throw e;
    }
    const capture = new Capture(handle, options.device, linktype);
    handle.on('packet', (nbytes, truncated) => {
      const tsUs = nowUs();
      capture.counts.frames++;
      if (truncated) capture.counts.truncated++;
      onFrame({ tsUs, linktype, data: new Uint8Array(buffer.subarray(0, nbytes)) }, truncated);
    });
    return capture;
  }

  stats(): CaptureCounts {
    return { ...this.counts };
  }

  get closed(): boolean {
    return this.handle === null;
  }

  /** Idempotent. */
  close(): void {
    const h = this.handle;
    this.handle = null;
    h?.close();
  }
}

/** Names libpcap can open in this network namespace. */
export function listDevices(): string[] {
  return loadCap().Cap.deviceList().map((d) => d.name);
}

/**
 * The receive-packet counter of `ifname` in the caller's network namespace
 * (/proc/self/net/dev, the counter dev_get_stats() reports).
 */
export function kernelRxPackets(ifname: string): number {
  const text = readFileSync('/proc/self/net/dev', 'utf8');
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() !== ifname) continue;
    const fields = line.slice(colon + 1).trim().split(/\s+/);
    const packets = Number(fields[1]);
    if (!Number.isSafeInteger(packets)) throw new Error(`unreadable /proc/net/dev line: ${line}`);
    return packets;
  }
  throw new Error(`no interface ${ifname} in this network namespace (/proc/self/net/dev)`);
}
