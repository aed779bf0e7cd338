/**
 * The IP output path for datagram sockets: net/ipv4/ip_output.c
 * `ip_setup_cork`, `__ip_append_data`, `__ip_make_skb`, `ip_finish_output`
 * (`ip_fragment`, `ip_do_fragment`, `ip_finish_output_gso`), and the ID
 * choice of include/net/ip.h `ip_select_ident_segs`. All versions; the
 * per-line differences are profile switches.
 *
 * The queue of skbs is modelled as the datagram's bytes plus the facts that
 * decide the wire: fragment boundaries follow the kernel's rule (every
 * non-last fragment carries `(mtu - hlen) & ~7` payload bytes however the data
 * was appended), which `__ip_append_data` and `ip_do_fragment` produce on
 * both the fast and the slow path.
 */
import { FLAG_DF, FLAG_MF, HEADER_LEN, headerChecksum, MIN_MTU } from '../../wire/ipv4.js';
import { kerr, Unmodelled, type KErr } from '../errors.js';
import { ICMP_DEST_UNREACH } from '../../wire/icmp.js';
import { icmp_send, ICMP_FRAG_NEEDED } from './icmp.js';
import { ip_options_build, ip_options_fragment, type IpOptions } from './ip_options.js';
import { IP_MAX_MTU, RTN_MULTICAST, type Rtable } from './route.js';
import {
  ip_sk_ignore_df,
  ip_sk_use_pmtu,
  IP_PMTUDISC_DO,
  IP_PMTUDISC_PROBE,
  IP_PMTUDISC_WANT,
  sysctlInt,
  type Lab,
  type Sock,
} from '../sock.js';
import type { IdRule } from '../../result.js';

export const MSG_OOB = 0x1;
export const MSG_DONTROUTE = 0x4;
export const MSG_PROBE = 0x10;
export const MSG_DONTWAIT = 0x40;
export const MSG_CONFIRM = 0x800;
export const MSG_MORE = 0x8000;

/** `struct ipcm_cookie` (include/net/ip.h) with its `sockcm_cookie`. */
export interface Ipcm {
  addr: number;
  oif: number;
  opt: IpOptions | null;
  ttl: number;
  tos: number;
  protocol: number;
  gsoSize: number;
  mark: number;
  priority: number;
}

/** `ipcm_init_sk`: the cookie a send starts from (6.18 pre-loads the socket's TOS). */
export function ipcm_init_sk(lab: Lab, sk: Sock): Ipcm {
  return {
    addr: sk.saddr,
    oif: sk.boundDevIf,
    opt: null,
    ttl: 0,
    tos: lab.profile.ipcmTosFromSocket ? sk.tos : -1,
    protocol: sk.num,
    gsoSize: sk.gsoSize,
    mark: sk.mark,
    priority: sk.priority,
  };
}

/** The flow a datagram was routed with (`inet->cork.fl.u.ip4` / a stack flowi4). */
export interface Flow {
  saddr: number;
  daddr: number;
  sport: number;
  dport: number;
}

/** `struct inet_cork` plus the queued bytes. */
export interface Cork {
  fragsize: number;
  opt: IpOptions | null;
  addr: number;
  gsoSize: number;
  ttl: number;
  tos: number;
  rt: Rtable;
  /** cork->length: bytes queued, transport header included. */
  length: number;
  chunks: Uint8Array[];
  /** The first skb is CHECKSUM_PARTIAL (`csummode` in `__ip_append_data`). */
  csumPartial: boolean;
  /** The flow of a corked UDP datagram (`udp_sendmsg` fills it when corking). */
  fl4: Flow;
}

/** `ip_setup_cork`: fragment size, options and the per-datagram values, fixed once. */
export function ip_setup_cork(sk: Sock, ipc: Ipcm, rt: Rtable, fl4: Flow): Cork | KErr {
  const fragsize = ip_sk_use_pmtu(sk) ? rt.mtu : rt.devMtu;
  if (fragsize < MIN_MTU) return kerr('ENETUNREACH', 'ip_setup_cork'); // inetdev_valid_mtu
  return {
    fragsize,
    opt: ipc.opt,
    addr: ipc.opt ? ipc.addr : 0,
    gsoSize: ipc.gsoSize,
    ttl: ipc.ttl,
    tos: ipc.tos,
    rt,
    length: 0,
    chunks: [],
    csumPartial: false,
    fl4: { ...fl4 },
  };
}

/**
 * `__ip_append_data`: the size limit and the checksum mode; the bytes are queued.
 * The cork owns `bytes` from here (`__ip_make_skb` may take them as the body and
 * write into them): callers pass a copy, never a case's payload itself.
 */
export function __ip_append_data(
  lab: Lab,
  sk: Sock,
  cork: Cork,
  bytes: Uint8Array,
  transhdrlen: number,
  flags: number,
): true | KErr {
  const optlen = cork.opt ? cork.opt.data.length : 0;
  const mtu = cork.gsoSize ? IP_MAX_MTU : cork.fragsize;
  const fragheaderlen = HEADER_LEN + optlen;
  const maxnonfragsize = ip_sk_ignore_df(sk) ? IP_MAX_MTU : mtu;
  const length = bytes.length;
  if (cork.length + length > maxnonfragsize - fragheaderlen) return kerr('EMSGSIZE', '__ip_append_data');
  if (
    transhdrlen &&
    cork.length === 0 &&
    length + fragheaderlen <= mtu &&
    cork.rt.dev === 'tx' &&
    lab.txChecksum &&
    (!(flags & MSG_MORE) || cork.gsoSize)
  ) {
    cork.csumPartial = true;
  }
  const room = sndbufRoom(lab, cork, length, mtu, fragheaderlen, flags);
  if (room !== true) return room;
  cork.chunks.push(bytes);
  cork.length += length;
  return true;
}

/**
 * How many pieces `len` bytes make with `room` bytes a piece: (room & ~7) each
 * while more than `room` is left, the rest whole in the last one
 * (`__ip_append_data`'s datalen, `ip_frag_next`'s len alike).
 */
function pieceCount(len: number, room: number): number {
  return len <= room ? 1 : Math.ceil((len - room) / (room & ~7)) + 1;
}

/** `sk_sndbuf` of a new socket: net.core.wmem_default (global, not per netns; Linux's default). */
const SK_SNDBUF = 212992;
/** SKB_DATA_ALIGN(sizeof(struct sk_buff)) and SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86_64. */
const SKB_STRUCT = 256;
const SKB_SHINFO = 320;
/** LL_RESERVED_SPACE of an Ethernet device (hard_header_len 14, rounded to HH_DATA_MOD plus one). */
const HH_LEN = 16;
/**
 * SKB_SMALL_HEAD_CACHE_SIZE's range over kernel configs (smallHeadCacheSize of
 * MAX_HEADER 32 to 176): the bounds used when the run does not know MAX_HEADER.
 */
const SMALL_HEAD = [576, 704] as const;

/**
 * SKB_SMALL_HEAD_CACHE_SIZE (net/core/skbuff.c, read in 6.12.107 and 6.18.15):
 * SKB_HEAD_ALIGN(max(MAX_TCP_HEADER, GRO_MAX_HEAD_PAD)), plus L1_CACHE_BYTES
 * if that is a power of two. MAX_TCP_HEADER = L1_CACHE_ALIGN(128 + MAX_HEADER)
 * (include/net/tcp.h), GRO_MAX_HEAD_PAD = MAX_HEADER + 128 + NET_SKB_PAD +
 * NET_IP_ALIGN (include/net/gro.h); x86_64: L1 64, NET_SKB_PAD 64, NET_IP_ALIGN 0.
 * MAX_HEADER 32 gives 576, 80 gives 640, 176 gives 704.
 */
export function smallHeadCacheSize(maxHeader: number): number {
  const l1Align = (n: number): number => (n + 63) & ~63;
  const size = l1Align(Math.max(l1Align(128 + maxHeader), maxHeader + 128 + 64 + 0)) + SKB_SHINFO;
  return (size & (size - 1)) === 0 ? size + 64 : size;
}

/** kmalloc_size_roundup: the kmalloc caches, then whole pages (get_order). */
function kmallocRoundup(n: number): number {
  for (const b of [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192]) if (n <= b) return b;
  return 4096 * 2 ** Math.ceil(Math.log2(n / 4096));
}

/**
 * skb->truesize bounds for `alloc_skb(size)` (`__alloc_skb` → `kmalloc_reserve`):
 * the head object (SKB_HEAD_ALIGN(size), rounded up by its slab) plus struct
 * sk_buff. From 6.3 small heads come from skb_small_head_cache, whose size
 * depends on the config (MAX_HEADER, a run input); unknown, the model bounds it.
 */
function truesizeBounds(lab: Lab, size: number): [number, number] {
  const obj = ((size + 63) & ~63) + SKB_SHINFO;
  if (lab.profile.skbSmallHeadCache && lab.maxHeader !== null) {
    // kmalloc_reserve: a head that fits comes from skb_small_head_cache, whole.
    const cache = smallHeadCacheSize(lab.maxHeader);
    const t = (obj <= cache ? cache : kmallocRoundup(obj)) + SKB_STRUCT;
    return [t, t];
  }
  if (lab.profile.skbSmallHeadCache && obj <= SMALL_HEAD[1]) {
    const lo = obj <= SMALL_HEAD[0] ? SMALL_HEAD[0] : obj;
    const hi = obj <= SMALL_HEAD[0] ? SMALL_HEAD[1] : kmallocRoundup(obj);
    return [lo + SKB_STRUCT, hi + SKB_STRUCT];
  }
  const t = kmallocRoundup(obj) + SKB_STRUCT;
  return [t, t];
}

/**
 * The send-buffer limit of `__ip_append_data`: every skb after a datagram's
 * first is allocated only while `sk_wmem_alloc + wmem_alloc_delta <= 2 *
 * sk_sndbuf`, else ENOBUFS; truesize, not bytes, is what counts. Where the
 * truesize bounds straddle the limit, the model says it cannot tell (Unmodelled).
 * sk_wmem_alloc is 1 when a datagram starts: the earlier ones have left the
 * send buffer (the probe waits for that, harness/probe/PROTOCOL.md "RUN"), so
 * the first skb's sock_alloc_send_skb never waits or fails with EAGAIN.
 */
function sndbufRoom(lab: Lab, cork: Cork, length: number, mtu: number, fhl: number, flags: number): true | KErr {
  const total = cork.length + length;
  if (total + fhl <= mtu) return true; // one skb: never the alloc_skb check
  const per = (mtu - fhl) & ~7;
  const skbs = pieceCount(total, mtu - fhl);
  // alloclen: the whole MTU under MSG_MORE without NETIF_F_SG (which comes with checksum offload).
  const sg = cork.rt.dev === 'tx' && lab.txChecksum;
  const alloc = (flags & MSG_MORE && !sg ? mtu : per + fhl) + HH_LEN + 15;
  // The binding check is the last allocation: everything before it is charged.
  const [l, h] = truesizeBounds(lab, alloc);
  const lo = 1 + (skbs - 1) * l;
  const hi = 1 + (skbs - 1) * h;
  const limit = 2 * SK_SNDBUF;
  if (hi <= limit) return true;
  if (lo > limit) return kerr('ENOBUFS', '__ip_append_data');
  throw new Unmodelled(
    `a datagram of ${skbs} skbs at the send-buffer limit (2 * sk_sndbuf = ${limit}, truesize ${lo}..${hi}; __ip_append_data ENOBUFS)`,
  );
}

/** How `__ip_make_skb` chose the ID: `ip_select_ident_segs` (segs = 1). */
export type IdChoice = { kind: 'zero' } | { kind: 'sequence'; group: number; plus: number } | { kind: 'exact'; id: number };

/** What `__ip_make_skb` hands on: one datagram, header not yet finished. */
export interface Skb {
  header: Uint8Array;
  /** Transport header + data (everything after the IP header). */
  body: Uint8Array;
  id: IdChoice;
  ignoreDf: boolean;
  rt: Rtable;
  cork: Cork;
  /** Header offsets of IP timestamp time fields written by ip_options_build. */
  tsTimes: number[];
  /** UDP GSO segment size (`skb_shinfo(skb)->gso_size`), 0 for none. */
  gsoSize: number;
  /** `IPCB(skb)->opt.optlen`: the options ip_options_fragment walks (0 for hdrincl). */
  cbOptlen: number;
  /** UDP GSO: fills one segment's UDP length and checksum (`__udp_gso_segment`). */
  segmentFill?: (segment: Uint8Array) => void;
}

/** Per-prediction state the ID rules need: new groups for opaque IDs. */
export interface IdState {
  nextGroup: number;
  /** The group of the socket's private counter, drawn at connect(). */
  connectedGroup: number | null;
  /** ms since 00:00 UTC the model writes into timestamp options (judged by rule). */
  msOfDay: number;
}

/**
 * `ip_select_ident_segs` (include/net/ip.h): a connected socket's private
 * counter first, whatever DF is; else DF without ignore_df gives 0; else the
 * shared hashed generator (an opaque value: a new group).
 */
export function ip_select_ident(lab: Lab, sk: Sock | null, df: boolean, ignoreDf: boolean, ids: IdState, segs = 1): IdChoice {
  if (sk && sk.daddr && ids.connectedGroup !== null) {
    let plus: number;
    if (lab.profile.connectedIdAddReturn) {
      sk.idCount += segs; // atomic_add_return: the new value
      plus = sk.idCount;
    } else {
      plus = sk.idCount; // the old value, then += segs
      sk.idCount += segs;
    }
    return { kind: 'sequence', group: ids.connectedGroup, plus };
  }
  if (df && !ignoreDf) return { kind: 'zero' };
  return { kind: 'sequence', group: ids.nextGroup++, plus: 0 };
}

/** `ip_select_ttl` / `ip4_dst_hoplimit`: IP_TTL, else the route's hop limit, else the sysctl. */
function ip_select_ttl(lab: Lab, sk: Sock): number {
  if (sk.ucTtl >= 0) return sk.ucTtl;
  return sysctlInt(lab, 'net.ipv4.ip_default_ttl', 64);
}

/** `ip_dont_fragment` (include/net/ip.h). */
function ip_dont_fragment(sk: Sock, rt: Rtable): boolean {
  return sk.pmtudisc === IP_PMTUDISC_DO || (sk.pmtudisc === IP_PMTUDISC_WANT && !rt.mtuLocked);
}

/** `__ip_make_skb`: the IPv4 header of the corked datagram (DF, TTL, TOS, ID, options). */
export function __ip_make_skb(lab: Lab, sk: Sock, cork: Cork, fl4: Flow, ids: IdState): Skb {
  const body = concat(cork.chunks);
  const rt = cork.rt;
  const opt = cork.opt;
  const optlen = opt ? opt.data.length : 0;
  const hlen = HEADER_LEN + optlen;
  const ignoreDf = ip_sk_ignore_df(sk);
  const skbLen = hlen + body.length;
  const df =
    sk.pmtudisc === IP_PMTUDISC_DO ||
    sk.pmtudisc === IP_PMTUDISC_PROBE ||
    (skbLen <= rt.mtu && ip_dont_fragment(sk, rt));
  let ttl: number;
  if (cork.ttl !== 0) ttl = cork.ttl;
  else if (rt.type === RTN_MULTICAST) ttl = sk.mcTtl;
  else ttl = ip_select_ttl(lab, sk);
  const tos = cork.tos !== -1 ? cork.tos : sk.tos;

  const header = new Uint8Array(hlen);
  header[0] = 0x40 | (hlen >> 2);
  header[1] = tos & 0xff;
  header[6] = df ? FLAG_DF >> 8 : 0;
  header[8] = ttl;
  header[9] = sk.protocol;
  writeBe32(header, 12, fl4.saddr);
  writeBe32(header, 16, fl4.daddr);
  const id = ip_select_ident(lab, sk, df, ignoreDf, ids);
  let tsTimes: number[] = [];
  if (opt) tsTimes = ip_options_build(header, opt, cork.addr, fl4.saddr, ids.msOfDay);
  return { header, body, id, ignoreDf, rt, cork, tsTimes, gsoSize: 0, cbOptlen: optlen };
}

/** One datagram on the wire, before rules are attached. */
export interface WirePacket {
  bytes: Uint8Array;
  id: IdChoice;
  tsTimes: number[];
  /** The header checksum is the sender's own, not computed by the kernel (compared exactly). */
  userChecksum?: boolean;
}

/** `ip_skb_dst_mtu`: the device MTU for a socket that does not use PMTU (IP_PMTUDISC_PROBE and up), else the route's. */
export function ip_skb_dst_mtu(sk: Sock | null, rt: Rtable): number {
  return sk && !ip_sk_use_pmtu(sk) ? Math.min(rt.devMtu, IP_MAX_MTU) : rt.mtu;
}

/** An output errno, and what left tx before it was returned (`ip_fragment`'s ICMP error to the source). */
export interface OutputErr extends KErr {
  readonly sent?: WirePacket[];
}

/**
 * `ip_fragment` on a packet with DF (and no ignore_df) over `mtu`: EMSGSIZE, after
 * `icmp_send(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, htonl(mtu))` to its source.
 * `pkt` is the packet as it stands (the error quotes it).
 */
export function ip_fragment_refuse(lab: Lab, pkt: Uint8Array, rt: Rtable, mtu: number, ids: IdState): OutputErr {
  return { ...kerr('EMSGSIZE', 'ip_fragment'), sent: icmp_send(lab, pkt, rt, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu, ids) };
}

/**
 * `ip_local_out` → `ip_output` → `ip_finish_output`: set tot_len and the
 * header checksum, then GSO segmentation or `ip_fragment`. Returns the packets
 * that leave tx (none for a route through lo) or the errno `ip_fragment` gives.
 */
export function ip_finish_output(lab: Lab, sk: Sock | null, skb: Skb, ids: IdState): WirePacket[] | OutputErr {
  const mtu = ip_skb_dst_mtu(sk, skb.rt);
  const hlen = skb.header.length;
  const total = hlen + skb.body.length;
  const df = (skb.header[6]! & (FLAG_DF >> 8)) !== 0;
  let packets: WirePacket[];
  if (skb.gsoSize) {
    packets = gsoSegments(lab, skb);
  } else if (total > mtu) {
    // ip_fragment: DF without ignore_df sends ICMP_FRAG_NEEDED to the sender and fails.
    if (df && !skb.ignoreDf) return ip_fragment_refuse(lab, finish(skb.header, skb.body), skb.rt, mtu, ids);
    const frags = ip_do_fragment(lab, skb, mtu);
    if ('kind' in frags) return frags;
    packets = frags;
  } else {
    packets = [{ bytes: finish(skb.header, skb.body), id: skb.id, tsTimes: skb.tsTimes }];
  }
  return skb.rt.dev === 'tx' ? packets : [];
}

/** `ip_do_fragment`: MF, offsets and lengths; DF cleared; options after the first per `ip_options_fragment`. */
function ip_do_fragment(lab: Lab, skb: Skb, mtu: number): WirePacket[] | KErr {
  const hlen = skb.header.length;
  if (mtu < hlen + 8) {
    // Only a raw IP_HDRINCL header under a tiny route MTU gets here. 6.12.107 refuses it;
    // elsewhere the slow path's unsigned `mtu - hlen` either wraps or makes no progress.
    if (lab.profile.ipDoFragmentChecksMtu) return kerr('EMSGSIZE', 'ip_do_fragment');
    throw new Unmodelled(`ip_do_fragment with mtu ${mtu} < hlen ${hlen} + 8 (the slow path may never finish)`);
  }
  const per = (mtu - hlen) & ~7;
  const out: WirePacket[] = [];
  // ip_frag_init: a header that is itself a fragment (a raw IP_HDRINCL one) keeps its
  // offset as the base, and MF on every piece when it had MF (not_last_frag).
  const orig = (skb.header[6]! << 8) | skb.header[7]!;
  const baseOff = (orig & 0x1fff) << 3;
  const notLastFrag = (orig & FLAG_MF) !== 0;
  const later = skb.header.slice();
  ip_options_fragment(later, skb.cbOptlen);
  // Fragments of (mtu - hlen) & ~7 bytes while more than mtu - hlen is left; the last
  // takes the rest whole (__ip_append_data's datalen, ip_frag_next's len alike).
  const body = skb.body;
  const n = pieceCount(body.length, mtu - hlen);
  // All fragments in one buffer, each packet a view of it: one allocation a datagram.
  const buf = new Uint8Array(n * hlen + body.length);
  let at = 0;
  for (let off = 0, end = 0; off < body.length; off = end) {
    const left = body.length - off;
    end = off + (left > mtu - hlen ? per : left);
    const first = off === 0;
    const pkt = buf.subarray(at, at + hlen + end - off);
    at += pkt.length;
    pkt.set(first ? skb.header : later);
    const mf = end < body.length || notLastFrag;
    const frag = ((mf ? FLAG_MF : 0) | ((baseOff + off) >> 3)) >>> 0;
    pkt[6] = frag >> 8;
    pkt[7] = frag & 0xff;
    pkt.set(body.subarray(off, end), hlen);
    setTotLenAndCheck(pkt);
    out.push({ bytes: pkt, id: skb.id, tsTimes: first ? skb.tsTimes : [] });
  }
  return out;
}

/**
 * UDP GSO (`udp_send_skb` set gso_size): the device gets the super-packet when
 * it has NETIF_F_GSO_UDP_L4 (`harmonize_features` drops GSO without checksum
 * offload); otherwise `__udp_gso_segment` / `inet_gso_segment` cut it: each
 * segment its own UDP length and checksum, IP IDs counting up.
 */
function gsoSegments(lab: Lab, skb: Skb): WirePacket[] {
  // harmonize_features drops GSO without checksum offload; the device's own GSO_UDP_L4 is a run input.
  const superPacket = lab.gso && lab.txChecksum && lab.txGsoUdpL4;
  if (superPacket) {
    return [{ bytes: finish(skb.header, skb.body), id: skb.id, tsTimes: skb.tsTimes }];
  }
  const udpHdr = skb.body.subarray(0, 8);
  const data = skb.body.subarray(8);
  const out: WirePacket[] = [];
  let i = 0;
  for (let off = 0; off < data.length; off += skb.gsoSize, i++) {
    const chunk = data.subarray(off, Math.min(off + skb.gsoSize, data.length));
    const seg = new Uint8Array(8 + chunk.length);
    seg.set(udpHdr);
    seg.set(chunk, 8);
    skb.segmentFill?.(seg);
    // inet_gso_segment copies the whole header (options included) into every segment.
    out.push({ bytes: finish(skb.header.slice(), seg), id: plusId(skb.id, i), tsTimes: skb.tsTimes });
  }
  return out;
}

function plusId(id: IdChoice, i: number): IdChoice {
  if (i === 0) return id;
  switch (id.kind) {
    case 'zero':
      return { kind: 'exact', id: i };
    case 'exact':
      return { kind: 'exact', id: (id.id + i) & 0xffff };
    case 'sequence':
      return { kind: 'sequence', group: id.group, plus: id.plus + i };
  }
}

/** `__ip_local_out`: tot_len and `ip_send_check`. */
function finish(header: Uint8Array, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(header.length + body.length);
  out.set(header);
  out.set(body, header.length);
  setTotLenAndCheck(out);
  return out;
}

function setTotLenAndCheck(pkt: Uint8Array): void {
  pkt[2] = pkt.length >> 8;
  pkt[3] = pkt.length & 0xff;
  ip_send_check(pkt);
}

/** The rule the result carries for a packet's ID (case-format.md, "Comparing"). */
export function idRule(id: IdChoice, bytes: Uint8Array): IdRule {
  switch (id.kind) {
    case 'zero':
      return { rule: 'zero' };
    case 'exact':
      // A GSO segment's ID counted up from a zero base: write it (the kernel's
      // header checksum covers it). A raw header's own ID is already there.
      if (((bytes[4]! << 8) | bytes[5]!) !== id.id) {
        bytes[4] = id.id >> 8;
        bytes[5] = id.id & 0xff;
        ip_send_check(bytes);
      }
      return { rule: 'exact' };
    case 'sequence':
      return { rule: 'sequence', group: id.group, plus: id.plus };
  }
}

/** `ip_send_check`: the header checksum over the header as it now is. */
function ip_send_check(bytes: Uint8Array): void {
  const c = headerChecksum(bytes); // computed with the field taken as zero
  bytes[10] = c >> 8;
  bytes[11] = c & 0xff;
}

/** The chunks as one array; a single chunk is taken as it is (the cork owns its chunks). */
export function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export function writeBe32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 255;
  b[at + 2] = (v >>> 8) & 255;
  b[at + 3] = v & 255;
}

