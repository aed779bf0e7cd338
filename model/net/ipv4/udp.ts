/**
 * UDP and UDP-Lite sends: net/ipv4/udp.c `udp_sendmsg`, `udp_cmsg_send`,
 * `__udp_cmsg_send`, `udp_send_skb`, `udp_push_pending_frames`,
 * `udp_lib_setsockopt`; include/net/udplite.h `udplite_csum`. Version
 * differences: the GSO checks (`profile.udpGsoSizeCheckUsesMin`,
 * `udpMaxSegments`, `udpGsoNeedsChecksumOffload`). Leaves out: xfrm,
 * BPF cgroup hooks, encapsulation sockets, IPv4-mapped sends from AF_INET6.
 */
import * as checksum from '../../wire/checksum.js';
import { kerr, Unmodelled, type KErr } from '../errors.js';
import {
  __ip_append_data,
  __ip_make_skb,
  ip_finish_output,
  ip_setup_cork,
  ipcm_init_sk,
  MSG_CONFIRM,
  MSG_DONTROUTE,
  MSG_MORE,
  MSG_OOB,
  MSG_PROBE,
  type Cork,
  type Flow,
  type IdState,
  type OutputErr,
  type Skb,
  type WirePacket,
} from './ip_output.js';
import { CMSG_OK, for_each_cmsghdr, ip_cmsg_send, SOL_UDP } from './ip_sockglue.js';
import { ip_route_output_flow, ipv4_is_multicast } from './route.js';
import type { Lab, Sock } from '../sock.js';
import type { SockaddrIn } from '../../program.js';

export const UDP_CORK = 1;
export const UDP_ENCAP = 100;
export const UDP_NO_CHECK6_TX = 101;
export const UDP_NO_CHECK6_RX = 102;
export const UDP_SEGMENT = 103;
export const UDP_GRO = 104;
export const UDPLITE_SEND_CSCOV = 10;
export const UDPLITE_RECV_CSCOV = 11;
const UDP_HDR = 8;

/** The outcome of one sendmsg: a return value or errno, and what left tx. */
export interface SendOutcome {
  result: number | KErr;
  packets: WirePacket[];
}

/** `__udp_cmsg_send`: SOL_UDP control messages. */
function __udp_cmsg_send(c: { len: number; type: number; data: DataView }, ipc: { gsoSize: number }): true | KErr {
  if (c.type === UDP_SEGMENT) {
    if (c.len !== 16 + 2) return kerr('EINVAL', '__udp_cmsg_send');
    ipc.gsoSize = c.data.getUint16(0, true);
    return true;
  }
  return kerr('EINVAL', '__udp_cmsg_send');
}

/** `udp_cmsg_send`: pass 1 over the control buffer; true when another level needs `ip_cmsg_send`. */
function udp_cmsg_send(control: Uint8Array, ipc: { gsoSize: number }): boolean | KErr {
  let needIp = false;
  for (const c of for_each_cmsghdr(control)) {
    if (!CMSG_OK(control, c)) return kerr('EINVAL', 'udp_cmsg_send');
    if (c.level !== SOL_UDP) {
      needIp = true;
      continue;
    }
    const err = __udp_cmsg_send(c, ipc);
    if (err !== true) return err;
  }
  return needIp;
}

export interface SendArgs {
  to: SockaddrIn | null;
  payload: Uint8Array;
  flags: number;
  control: Uint8Array;
}

/** `udp_sendmsg` (and UDP-Lite's, which is the same function). */
export function udp_sendmsg(lab: Lab, sk: Sock, m: SendArgs, ids: IdState): SendOutcome {
  const none: WirePacket[] = [];
  const len = m.payload.length;
  if (len > 0xffff) return { result: kerr('EMSGSIZE', 'udp_sendmsg'), packets: none };
  if (m.flags & MSG_OOB) return { result: kerr('EOPNOTSUPP', 'udp_sendmsg'), packets: none };
  const corkreq = sk.corkflag || (m.flags & MSG_MORE) !== 0;

  if (sk.pending) {
    // Corked: name and control data of later sends are not even looked at.
    return appendAndMaybePush(lab, sk, sk.pending, m.payload, 0, corkreq, m.flags, ids, len);
  }

  let daddr: number;
  let dport: number;
  // "Open fast path for connected socket": no name, no IP-level cmsg, no source route,
  // no link scope, not multicast. It uses the cached route and inet->cork.fl.u.ip4.
  let connected = false;
  if (m.to) {
    daddr = m.to.addr;
    dport = m.to.port;
    if (dport === 0) return { result: kerr('EINVAL', 'udp_sendmsg'), packets: none };
  } else {
    if (sk.state !== 'ESTABLISHED') return { result: kerr('EDESTADDRREQ', 'udp_sendmsg'), packets: none };
    daddr = sk.daddr;
    dport = sk.dport;
    connected = true;
  }

  const ipc = ipcm_init_sk(lab, sk);
  if (m.control.length) {
    const need = udp_cmsg_send(m.control, ipc);
    if (typeof need !== 'boolean') return { result: need, packets: none };
    if (need) {
      const err = ip_cmsg_send(lab, sk, m.control, ipc);
      if (err !== true) return { result: err, packets: none };
      connected = false;
    }
  }
  if (!ipc.opt) ipc.opt = sk.opt;

  let saddr = ipc.addr;
  let faddr = daddr;
  ipc.addr = daddr;
  if (ipc.opt && ipc.opt.srr) {
    if (!daddr) return { result: kerr('EINVAL', 'udp_sendmsg'), packets: none };
    faddr = ipc.opt.faddr;
    connected = false;
  }
  // ip_sendmsg_scope: SO_DONTROUTE, MSG_DONTROUTE and strict source routing look up
  // on-link routes only (RT_SCOPE_LINK): in the lab every route is on-link, so the
  // lookup below is the same either way, but such a send is not `connected`.
  if (sk.localroute || m.flags & MSG_DONTROUTE || ipc.opt?.isStrictroute) connected = false;
  if (ipv4_is_multicast(daddr)) {
    if (!ipc.oif) ipc.oif = sk.mcIndex;
    if (!saddr) saddr = sk.mcAddr;
    connected = false;
  } else if (!ipc.oif) {
    ipc.oif = sk.ucIndex;
  }

  const fl = { oif: ipc.oif, saddr, daddr: faddr, anysrc: sk.transparent };
  const rt = ip_route_output_flow(lab, fl);
  if ('kind' in rt) return { result: rt, packets: none };
  if (rt.broadcast && !sk.broadcast) return { result: kerr('EACCES', 'udp_sendmsg'), packets: none };
  if (m.flags & MSG_CONFIRM && m.flags & MSG_PROBE && len === 0) return { result: 0, packets: none };

  // connected: sk_dst_check gives connect()'s route (the lookup above finds the same one
  // in the lab) and fl4 is inet->cork.fl.u.ip4, as the last corked send left it: its
  // addresses and dport, not necessarily the connected ones (all lines).
  const cached = connected ? sk.corkFl : null;
  const fl4: Flow = cached ? { ...cached } : { saddr: fl.saddr, daddr: fl.daddr, sport: sk.sport, dport };
  saddr = fl4.saddr;
  if (!ipc.addr) daddr = ipc.addr = fl4.daddr;

  if (!corkreq) {
    // ip_make_skb
    if (m.flags & MSG_PROBE) return { result: len, packets: none };
    const cork = ip_setup_cork(sk, ipc, rt, fl4);
    if ('kind' in cork) return { result: cork, packets: none };
    const err = __ip_append_data(lab, sk, cork, withUdpHeader(m.payload), UDP_HDR, m.flags);
    if (err !== true) return { result: err, packets: none };
    const skb = __ip_make_skb(lab, sk, cork, fl4, ids);
    return finishSend(udp_send_skb(lab, sk, skb, fl4, ids), len);
  }

  // Cork the socket: the datagram is kept in inet->cork until pushed. Its flow,
  // inet->cork.fl.u.ip4, gets `fl4->daddr = daddr`: the final destination, not the first
  // hop of a source route that the lookup used (faddr). So a corked source-routed
  // datagram carries the final destination in ip.dst and the pseudo-header, where an
  // uncorked one carries the first hop (all lines: 5.10.223 udp.c:1283, 6.18.15 :1502).
  sk.corkFl = { saddr, daddr, sport: sk.sport, dport };
  if (m.flags & MSG_PROBE) return { result: len, packets: none }; // ip_append_data returns before ip_setup_cork
  const cork = ip_setup_cork(sk, ipc, rt, { ...sk.corkFl });
  if ('kind' in cork) return { result: cork, packets: none };
  return appendAndMaybePush(lab, sk, cork, m.payload, UDP_HDR, corkreq, m.flags, ids, len);
}

/** The `do_append_data:` tail of `udp_sendmsg`. */
function appendAndMaybePush(
  lab: Lab,
  sk: Sock,
  cork: Cork,
  payload: Uint8Array,
  transhdrlen: number,
  corkreq: boolean,
  flags: number,
  ids: IdState,
  len: number,
): SendOutcome {
  const none: WirePacket[] = [];
  // ip_append_data returns 0 at once for MSG_PROBE; a push still happens below.
  if (!(flags & MSG_PROBE)) {
    const bytes = transhdrlen ? withUdpHeader(payload) : payload.slice();
    const err = __ip_append_data(lab, sk, cork, bytes, transhdrlen, corkreq ? flags | MSG_MORE : flags);
    if (err !== true) {
      sk.pending = null; // udp_flush_pending_frames
      return { result: err, packets: none };
    }
  }
  if (!corkreq) {
    if (!cork.length) {
      sk.pending = null;
      return { result: len, packets: none }; // udp_push_pending_frames: empty queue
    }
    sk.pending = null;
    return finishSend(udp_push_pending_frames(lab, sk, cork, ids), len);
  }
  sk.pending = cork.length ? cork : null;
  return { result: len, packets: none };
}

/** `udp_push_pending_frames`: make the corked datagram and send it. */
export function udp_push_pending_frames(lab: Lab, sk: Sock, cork: Cork, ids: IdState): WirePacket[] | OutputErr {
  const skb = __ip_make_skb(lab, sk, cork, cork.fl4, ids);
  return udp_send_skb(lab, sk, skb, cork.fl4, ids);
}

/** A send's outcome from what the output path gave: `len` and its packets, or the errno and what left before it. */
export function finishSend(out: WirePacket[] | OutputErr, len: number): SendOutcome {
  if ('kind' in out) return { result: kerr(out.errno, out.from), packets: out.sent ?? [] };
  return { result: len, packets: out };
}

function withUdpHeader(payload: Uint8Array): Uint8Array {
  // Not zero-filled: udp_send_skb writes all four header fields before anything reads them.
  const b = Buffer.allocUnsafe(UDP_HDR + payload.length);
  b.set(payload, UDP_HDR);
  return b;
}

/** `udp_send_skb`: the UDP header, the checksum (software, partial, none or UDP-Lite) and the GSO checks. */
export function udp_send_skb(lab: Lab, sk: Sock, skb: Skb, fl4: Flow, ids: IdState): WirePacket[] | OutputErr {
  const from = 'udp_send_skb';
  const isUdplite = sk.kind === 'udplite';
  const body = skb.body;
  const len = body.length;
  const datalen = len - UDP_HDR;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  view.setUint16(0, fl4.sport);
  view.setUint16(2, fl4.dport);
  view.setUint16(4, len);
  view.setUint16(6, 0);
  const partial = skb.cork.csumPartial;

  if (skb.cork.gsoSize) {
    const p = lab.profile;
    const gso = skb.cork.gsoSize;
    const hlen = skb.header.length + UDP_HDR;
    if (p.udpGsoSizeCheckUsesMin) {
      if (hlen + Math.min(datalen, gso) > skb.cork.fragsize) return kerr('EMSGSIZE', from);
    } else if (hlen + gso > skb.cork.fragsize) {
      return kerr('EINVAL', from);
    }
    if (datalen > gso * p.udpMaxSegments) return kerr('EINVAL', from);
    if (sk.noCheckTx) return kerr('EINVAL', from);
    if (isUdplite) return kerr('EIO', from);
    if (p.udpGsoNeedsChecksumOffload && !partial) return kerr('EIO', from);
    if (datalen > gso || p.udpGsoNeedsChecksumOffload) {
      if (datalen > gso) {
        skb.gsoSize = gso;
        skb.segmentFill = (seg) => fillUdpChecksum(seg, fl4, lab.txChecksum);
      }
      // csum_partial: udp4_hwcsum. Whole, the packet reaches only a device that
      // completes the checksum; segmented, each segment gets its own (segmentFill).
      view.setUint16(6, partialSum(fl4, len));
      return ip_finish_output(lab, sk, skb, ids);
    }
  }

  if (isUdplite) {
    // udplite_csum: coverage from UDPLITE_SEND_CSCOV, always in software.
    let cscov = len;
    if (sk.pcflagSendCC && sk.pcslen < len) {
      cscov = sk.pcslen === 0 ? len : sk.pcslen;
      view.setUint16(4, sk.pcslen);
    }
    const sum = checksum.data(body, 0, 0, cscov);
    view.setUint16(6, mangle0(checksum.finish(checksum.combine(sum, checksum.pseudoHeader(fl4.saddr, fl4.daddr, sk.protocol, len)))));
  } else if (sk.noCheckTx) {
    view.setUint16(6, 0);
  } else if (partial) {
    // udp4_hwcsum: the device completes it; a capture on tx sees the pseudo-header sum.
    view.setUint16(6, partialSum(fl4, len));
  } else {
    fillUdpChecksum(body, fl4, false);
  }
  return ip_finish_output(lab, sk, skb, ids);
}

/** `~csum_tcpudp_magic(src, dst, len, IPPROTO_UDP, 0)`: what a CHECKSUM_PARTIAL header holds. */
function partialSum(fl4: Flow, len: number): number {
  return checksum.fold(checksum.pseudoHeader(fl4.saddr, fl4.daddr, 17, len));
}

/**
 * The UDP checksum of a whole segment, with its length field set. A computed 0
 * goes out as 0xFFFF (RFC 768: 0 means "no checksum"; `CSUM_MANGLED_0`).
 * `partialOnly`: the device will complete it, so the header keeps the pseudo-header sum.
 */
function fillUdpChecksum(seg: Uint8Array, fl4: Flow, partialOnly: boolean): void {
  const v = new DataView(seg.buffer, seg.byteOffset, seg.byteLength);
  v.setUint16(4, seg.length);
  v.setUint16(6, 0);
  if (partialOnly) {
    v.setUint16(6, partialSum(fl4, seg.length));
    return;
  }
  const sum = checksum.combine(checksum.data(seg), checksum.pseudoHeader(fl4.saddr, fl4.daddr, 17, seg.length));
  v.setUint16(6, mangle0(checksum.finish(sum)));
}

function mangle0(c: number): number {
  return c === 0 ? 0xffff : c;
}

/** `udp_lib_setsockopt` (SOL_UDP / SOL_UDPLITE). Pushing on UDP_CORK = 0 returns packets. */
export function udp_lib_setsockopt(
  lab: Lab,
  sk: Sock,
  optname: number,
  optval: Uint8Array,
  ids: IdState,
): { result: true | KErr; packets: WirePacket[] } {
  const from = 'udp_lib_setsockopt';
  if (optval.length < 4) return { result: kerr('EINVAL', from), packets: [] };
  const val = new DataView(optval.buffer, optval.byteOffset, optval.byteLength).getInt32(0, true);
  switch (optname) {
    case UDP_CORK:
      if (val !== 0) {
        sk.corkflag = true;
        return { result: true, packets: [] };
      }
      sk.corkflag = false;
      if (sk.pending) {
        const cork = sk.pending;
        sk.pending = null;
        const out = udp_push_pending_frames(lab, sk, cork, ids);
        return { result: true, packets: 'kind' in out ? out.sent ?? [] : out };
      }
      return { result: true, packets: [] };
    case UDP_SEGMENT:
      if (val < 0 || val > 0xffff) return { result: kerr('EINVAL', from), packets: [] };
      sk.gsoSize = val;
      return { result: true, packets: [] };
    case UDP_NO_CHECK6_TX:
    case UDP_NO_CHECK6_RX:
    case UDP_GRO:
      return { result: true, packets: [] };
    case UDPLITE_SEND_CSCOV:
      if (sk.kind !== 'udplite') return { result: kerr('ENOPROTOOPT', from), packets: [] };
      sk.pcslen = val !== 0 && val < 8 ? 8 : val > 0xffff ? 0xffff : val;
      sk.pcflagSendCC = true;
      return { result: true, packets: [] };
    case UDPLITE_RECV_CSCOV:
      if (sk.kind !== 'udplite') return { result: kerr('ENOPROTOOPT', from), packets: [] };
      return { result: true, packets: [] };
    case UDP_ENCAP:
      throw new Unmodelled('UDP_ENCAP');
    default:
      return { result: kerr('ENOPROTOOPT', from), packets: [] };
  }
}
