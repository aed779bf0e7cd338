/**
 * Lowers a read case (model/case-read.ts) to a Program (model/program.ts):
 * every name to its Linux x86_64 number, every value and control buffer to
 * the bytes the syscalls see (case-format.md, "Names and values", "A send";
 * README "Case format extensions": per-send setsockopt calls, raw control bytes,
 * the sender's capabilities).
 * Throws only on a Case that the reader would have refused.
 */

import { NET_CAPS, type Case, type CmsgSpec, type Endpoint, type Payload, type SendSpec, type SockoptCall, type SocketSpec, type Value } from './case.js';
import { layoutControl } from './cmsg-layout.js';
import { AF_INET, IPPROTO, msgFlags, resolveCmsgType, resolveLevel, resolveOption, SOCK_DGRAM, SOCK_RAW } from './linux/constants.js';
import type { Program, ProgramSend, ProgramSockopt, SockaddrIn } from './program.js';
import { ip4 } from './program.js';

/** A value's bytes, native endian (little endian on x86_64). */
export interface ValueBytes {
  bytes: Uint8Array;
  /** Offsets in `bytes` of an ifindex written as "tx" (zero here; the probe fills it in). */
  txIfindexAt: number[];
}

/** Lays out one setsockopt/cmsg value. */
export function valueBytes(v: Value): ValueBytes {
  if ('int' in v) return fixed(4, (d) => d.setInt32(0, v.int, true));
  if ('u8' in v) return fixed(1, (d) => d.setUint8(0, v.u8));
  if ('u16' in v) return fixed(2, (d) => d.setUint16(0, v.u16, true));
  if ('u32' in v) return fixed(4, (d) => d.setUint32(0, v.u32, true));
  if ('u64' in v) return fixed(8, (d) => d.setBigUint64(0, BigInt(v.u64), true));
  if ('hex' in v) return { bytes: hexBytes(v.hex), txIfindexAt: [] };
  // struct in_pktinfo { int ipi_ifindex; struct in_addr ipi_spec_dst; struct in_addr ipi_addr; }
  // (include/uapi/linux/in.h); in_addr is in network byte order.
  const p = v.pktinfo;
  const r = fixed(12, (d) => {
    d.setInt32(0, p.ifindex === 'tx' ? 0 : p.ifindex, true);
    d.setUint32(4, ip4(p.spec_dst), false);
    d.setUint32(8, ip4(p.addr), false);
  });
  if (p.ifindex === 'tx') r.txIfindexAt.push(0);
  return r;
}

function fixed(n: number, write: (d: DataView) => void): ValueBytes {
  const bytes = new Uint8Array(n);
  write(new DataView(bytes.buffer));
  return { bytes, txIfindexAt: [] };
}

export function hexBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) throw new Error(`not an even-length hex string: ${JSON.stringify(hex)}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The payload's bytes: `length` n gives byte i = i & 0xff. */
export function payloadBytes(p: Payload): Uint8Array {
  if ('hex' in p) return hexBytes(p.hex);
  const out = new Uint8Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = i & 0xff;
  return out;
}

/** The capability numbers of `socket.caps`, ascending; null when the case has no `caps` (all, as root). */
export function capNumbers(caps: SocketSpec['caps']): number[] | null {
  return caps === undefined ? null : caps.map((c) => NET_CAPS[c]).sort((a, b) => a - b);
}

/** socket(2) arguments: dgram+udp/udplite/icmp (a ping socket), raw+protocol number. */
export function socketArgs(s: SocketSpec): { domain: number; type: number; protocol: number } {
  if (s.type === 'raw') {
    if (typeof s.protocol !== 'number') throw new Error(`a raw socket needs a protocol number, got ${JSON.stringify(s.protocol)}`);
    return { domain: AF_INET, type: SOCK_RAW, protocol: s.protocol };
  }
  const byName = { udp: IPPROTO.IPPROTO_UDP, udplite: IPPROTO.IPPROTO_UDPLITE, icmp: IPPROTO.IPPROTO_ICMP } as const;
  if (typeof s.protocol === 'number') throw new Error(`a dgram socket needs "udp", "udplite" or "icmp", got ${s.protocol}`);
  return { domain: AF_INET, type: SOCK_DGRAM, protocol: byName[s.protocol]! };
}

function sockaddr(e: Endpoint | null): SockaddrIn | null {
  return e === null ? null : { addr: ip4(e.addr), port: e.port };
}

/** The msg_control buffer of a send's cmsgs (layout in model/cmsg-layout.ts). */
export function controlBytes(cmsgs: readonly CmsgSpec[]): { control: Uint8Array; txIfindexAt: number[] } {
  const { control, txIfindexAt } = layoutControl(
    cmsgs.map((c) => {
      const v = valueBytes(c.value);
      return {
        level: resolveLevel(c.level),
        type: resolveCmsgType(c.level, c.type),
        data: v.bytes,
        txIfindexAt: v.txIfindexAt,
        ...(c.cmsg_len !== undefined ? { cmsgLen: c.cmsg_len } : {}),
      };
    }),
  );
  return { control, txIfindexAt };
}

/** One setsockopt call's numbers and value bytes. */
export function lowerSockopt(o: SockoptCall): ProgramSockopt {
  const v = valueBytes(o.value);
  if (v.txIfindexAt.length > 0) throw new Error('ifindex "tx" is only supported in a cmsg value');
  return { level: resolveLevel(o.level), name: resolveOption(o.level, o.name), value: v.bytes };
}

export function lowerSend(s: SendSpec): ProgramSend {
  const payload = payloadBytes(s.payload);
  // `control.hex` (extension): the bytes as written, no layout, nothing for the probe to patch.
  const { control, txIfindexAt } = s.control !== undefined ? { control: hexBytes(s.control.hex), txIfindexAt: [] } : controlBytes(s.cmsgs);
  return {
    setsockoptBefore: (s.setsockopt ?? []).map(lowerSockopt),
    to: sockaddr(s.to),
    payload,
    // No iov in the case: one iovec over the whole payload (also when it is empty).
    iov: s.iov === null ? [payload.length] : [...s.iov],
    flags: msgFlags(s.flags),
    control,
    txIfindexAt,
  };
}

export function lower(c: Case): Program {
  return {
    id: c.id,
    net: {
      mtu: c.net.mtu,
      routeMtu: c.net.route_mtu,
      sysctl: Object.entries(c.net.sysctl).map(([k, v]) => [k, String(v)]),
      txChecksum: c.net.offload.tx_checksum,
      gso: c.net.offload.gso,
    },
    socket: { ...socketArgs(c.socket), caps: capNumbers(c.socket.caps) },
    setsockopt: c.socket.setsockopt.map(lowerSockopt),
    bind: sockaddr(c.socket.bind),
    connect: sockaddr(c.socket.connect),
    sends: c.sends.map(lowerSend),
  };
}
