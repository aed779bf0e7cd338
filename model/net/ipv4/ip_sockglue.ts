/**
 * Socket options and control messages at SOL_IP: net/ipv4/ip_sockglue.c
 * `ip_cmsg_send` (identical in 5.10–6.18) and `do_ip_setsockopt` (the options
 * skbdiff models), plus the CMSG walk of include/linux/socket.h
 * (`for_each_cmsghdr`, `__cmsg_nxthdr`, `CMSG_OK`) that every parser shares.
 * Leaves out: SOL_IPV6 IPV6_PKTINFO (AF_INET6 sockets only), multicast
 * membership options.
 */
import { kerr, Unmodelled, type KErr } from '../errors.js';
import { __sock_cmsg_send } from '../core/sock.js';
import { ip_options_get } from './ip_options.js';
import type { Ipcm } from './ip_output.js';
import { IP_PMTUDISC_DONT, IP_PMTUDISC_OMIT, type Lab, type Sock } from '../sock.js';

export const SOL_IP = 0;
export const SOL_SOCKET = 1;
export const SOL_UDP = 17;
export const SOL_UDPLITE = 136;

export const IP_TOS = 1;
export const IP_TTL = 2;
export const IP_HDRINCL = 3;
export const IP_OPTIONS = 4;
export const IP_RECVOPTS = 6;
export const IP_RETOPTS = 7;
export const IP_PKTINFO = 8;
export const IP_PKTOPTIONS = 9;
export const IP_MTU_DISCOVER = 10;
export const IP_RECVERR = 11;
export const IP_RECVTTL = 12;
export const IP_RECVTOS = 13;
export const IP_MTU = 14;
export const IP_FREEBIND = 15;
export const IP_PASSSEC = 18;
export const IP_TRANSPARENT = 19;
export const IP_ORIGDSTADDR = 20;
export const IP_MINTTL = 21;
export const IP_NODEFRAG = 22;
export const IP_CHECKSUM = 23;
export const IP_BIND_ADDRESS_NO_PORT = 24;
export const IP_RECVFRAGSIZE = 25;
export const IP_RECVERR_RFC4884 = 26;
export const IP_MULTICAST_IF = 32;
export const IP_MULTICAST_TTL = 33;
export const IP_MULTICAST_LOOP = 34;
export const IP_MULTICAST_ALL = 49;
export const IP_UNICAST_IF = 50;
export const IP_PROTOCOL = 52;

/** sizeof(struct cmsghdr) on x86_64; CMSG_ALIGN rounds to sizeof(size_t). */
export const CMSG_HDR = 16;
export function CMSG_ALIGN(n: number): number {
  return (n + 7) & ~7;
}
export function CMSG_LEN(n: number): number {
  return CMSG_HDR + n;
}

/** One control message as the kernel sees it while walking the buffer. */
export interface Cmsg {
  offset: number;
  /** cmsg_len (a size_t; values past 2^53 are clamped, they fail CMSG_OK either way). */
  len: number;
  level: number;
  type: number;
  /** Bytes from CMSG_DATA to the end of the buffer (a parser reads only what cmsg_len allows). */
  data: DataView;
}

/**
 * `for_each_cmsghdr` with `CMSG_OK` checked by the caller: the first header
 * exists only if controllen >= 16; the next is at CMSG_ALIGN(cmsg_len) and
 * exists only if a whole header fits. Yields every header the kernel visits.
 */
export function* for_each_cmsghdr(control: Uint8Array): Generator<Cmsg> {
  const view = new DataView(control.buffer, control.byteOffset, control.byteLength);
  const size = control.length;
  let off = 0;
  if (size < CMSG_HDR) return; // CMSG_FIRSTHDR is NULL
  for (;;) {
    const lo = view.getUint32(off, true);
    const hi = view.getUint32(off + 4, true);
    const len = hi ? Number.MAX_SAFE_INTEGER : lo;
    yield {
      offset: off,
      len,
      level: view.getInt32(off + 8, true),
      type: view.getInt32(off + 12, true),
      data: new DataView(control.buffer, control.byteOffset + off + CMSG_HDR, size - off - CMSG_HDR),
    };
    // __cmsg_nxthdr. A cmsg_len below 8 would name the same header again; every
    // parser has failed CMSG_OK on it by then, so the walk ends there.
    if (len > size || CMSG_ALIGN(len) === 0) return;
    const next = off + CMSG_ALIGN(len);
    if (next + CMSG_HDR > size) return;
    off = next;
  }
}

/** `CMSG_OK`: a length that covers the header and stays in the buffer. */
export function CMSG_OK(control: Uint8Array, c: Cmsg): boolean {
  return c.len >= CMSG_HDR && c.len <= control.length - c.offset;
}

/** `ip_cmsg_send` (allow_ipv6 = false: AF_INET sockets). */
export function ip_cmsg_send(lab: Lab, sk: Sock, control: Uint8Array, ipc: Ipcm): true | KErr {
  const from = 'ip_cmsg_send';
  for (const c of for_each_cmsghdr(control)) {
    if (!CMSG_OK(control, c)) return kerr('EINVAL', from);
    if (c.level === SOL_SOCKET) {
      const err = __sock_cmsg_send(lab, sk, c, ipc);
      if (err !== true) return err;
      continue;
    }
    if (c.level !== SOL_IP) continue;
    switch (c.type) {
      case IP_RETOPTS: {
        const n = Math.min(c.len - CMSG_HDR, 40);
        const bytes = new Uint8Array(c.data.buffer, c.data.byteOffset, n).slice();
        const opt = ip_options_get(lab, bytes);
        if ('kind' in opt) return opt;
        ipc.opt = opt;
        break;
      }
      case IP_PKTINFO: {
        if (c.len !== CMSG_LEN(12)) return kerr('EINVAL', from);
        const ifindex = c.data.getInt32(0, true);
        if (ifindex) ipc.oif = ifindex;
        ipc.addr = c.data.getUint32(4, false); // ipi_spec_dst, always
        break;
      }
      case IP_TTL: {
        if (c.len !== CMSG_LEN(4)) return kerr('EINVAL', from);
        const val = c.data.getInt32(0, true);
        if (val < 1 || val > 255) return kerr('EINVAL', from);
        ipc.ttl = val;
        break;
      }
      case IP_TOS: {
        let val: number;
        if (c.len === CMSG_LEN(4)) val = c.data.getInt32(0, true);
        else if (c.len === CMSG_LEN(1)) val = c.data.getUint8(0);
        else return kerr('EINVAL', from);
        if (val < 0 || val > 255) return kerr('EINVAL', from);
        ipc.tos = val;
        ipc.priority = rt_tos2priority(val);
        break;
      }
      case IP_PROTOCOL: {
        if (c.len !== CMSG_LEN(4)) return kerr('EINVAL', from);
        const val = c.data.getInt32(0, true);
        if (val < 1 || val > 255) return kerr('EINVAL', from);
        ipc.protocol = val;
        break;
      }
      default:
        return kerr('EINVAL', from);
    }
  }
  return true;
}

/** `rt_tos2priority` (include/net/route.h): skb->priority only, never on the wire. */
function rt_tos2priority(tos: number): number {
  const ip_tos2prio = [0, 1, 0, 0, 2, 2, 2, 2, 6, 6, 6, 6, 4, 4, 4, 4];
  return ip_tos2prio[(tos & 0x1e) >> 1]!;
}

/** The int options `do_ip_setsockopt` reads as an int (optlen >= 4) or a byte (optlen >= 1), else 0. */
const INT_OPTIONS = new Set([
  IP_PKTINFO, IP_RECVTTL, IP_RECVOPTS, IP_RECVTOS, IP_RETOPTS, IP_TOS, IP_TTL, IP_HDRINCL, IP_MTU_DISCOVER,
  IP_RECVERR, IP_FREEBIND, IP_PASSSEC, IP_TRANSPARENT, IP_MINTTL, IP_NODEFRAG, IP_BIND_ADDRESS_NO_PORT,
  IP_UNICAST_IF, IP_MULTICAST_TTL, IP_MULTICAST_ALL, IP_MULTICAST_LOOP, IP_ORIGDSTADDR, IP_CHECKSUM,
  IP_RECVFRAGSIZE, IP_RECVERR_RFC4884,
]);

/** Options that only set a receive-side flag: no effect on what is sent. */
const RECEIVE_FLAGS = new Set([
  IP_PKTINFO, IP_RECVTTL, IP_RECVOPTS, IP_RECVTOS, IP_RETOPTS, IP_PASSSEC, IP_ORIGDSTADDR, IP_CHECKSUM,
  IP_RECVFRAGSIZE, IP_BIND_ADDRESS_NO_PORT,
]);

/** `do_ip_setsockopt` for the options skbdiff models. */
export function do_ip_setsockopt(lab: Lab, sk: Sock, optname: number, optval: Uint8Array): true | KErr {
  const from = 'do_ip_setsockopt';
  const optlen = optval.length;
  let val = 0;
  if (INT_OPTIONS.has(optname)) {
    const v = new DataView(optval.buffer, optval.byteOffset, optval.byteLength);
    if (optlen >= 4) val = v.getInt32(0, true);
    else if (optlen >= 1) val = v.getUint8(0);
  }
  if (RECEIVE_FLAGS.has(optname)) return true;
  switch (optname) {
    case IP_OPTIONS: {
      if (optlen > 40) return kerr('EINVAL', from);
      const opt = ip_options_get(lab, optval.slice());
      if ('kind' in opt) return opt;
      sk.opt = opt.data.length ? opt : null;
      return true;
    }
    case IP_TOS:
      // __ip_sock_set_tos: the whole byte for datagram sockets (ECN bits kept only for TCP).
      sk.tos = val & 0xff;
      sk.priority = rt_tos2priority(sk.tos);
      return true;
    case IP_TTL:
      if (optlen < 1) return kerr('EINVAL', from);
      if (val !== -1 && (val < 1 || val > 255)) return kerr('EINVAL', from);
      sk.ucTtl = val;
      return true;
    case IP_HDRINCL:
      if (sk.kind !== 'raw') return kerr('ENOPROTOOPT', from);
      sk.hdrincl = val !== 0;
      return true;
    case IP_NODEFRAG:
      if (sk.kind !== 'raw') return kerr('ENOPROTOOPT', from);
      return true;
    case IP_MTU_DISCOVER:
      // ip_sock_set_mtu_discover
      if (val < IP_PMTUDISC_DONT || val > IP_PMTUDISC_OMIT) return kerr('EINVAL', from);
      sk.pmtudisc = val;
      return true;
    case IP_RECVERR:
      sk.recverr = val !== 0;
      return true;
    case IP_FREEBIND:
      if (optlen < 1) return kerr('EINVAL', from);
      sk.freebind = val !== 0;
      return true;
    case IP_RECVERR_RFC4884:
      if (val < 0 || val > 1) return kerr('EINVAL', from);
      return true;
    case IP_MULTICAST_ALL:
      if (optlen < 1) return kerr('EINVAL', from);
      if (val !== 0 && val !== 1) return kerr('EINVAL', from);
      return true;
    case IP_MULTICAST_LOOP:
      if (optlen < 1) return kerr('EINVAL', from);
      return true;
    case IP_TRANSPARENT:
      if (val && !lab.capNetRaw && !lab.capNetAdmin) return kerr('EPERM', from);
      if (optlen < 1) return kerr('EINVAL', from);
      sk.transparent = val !== 0;
      return true;
    case IP_MINTTL:
      if (optlen < 1) return kerr('EINVAL', from);
      if (val < 0 || val > 255) return kerr('EINVAL', from);
      return true;
    case IP_MULTICAST_TTL: {
      if (optlen < 1) return kerr('EINVAL', from);
      const ttl = val === -1 ? 1 : val;
      if (ttl < 0 || ttl > 255) return kerr('EINVAL', from);
      sk.mcTtl = ttl;
      return true;
    }
    case IP_MTU:
      return kerr('ENOPROTOOPT', from); // getsockopt only
    default:
      throw new Unmodelled(`setsockopt SOL_IP option ${optname}`);
  }
}
