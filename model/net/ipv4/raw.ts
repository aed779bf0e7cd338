/**
 * Raw sockets: net/ipv4/raw.c `raw_sendmsg`, `raw_probe_proto_opt`,
 * `raw_send_hdrinc`. Without IP_HDRINCL the payload goes through the cork
 * like UDP's data (no transport header, no checksum computed); with it the
 * user's header is sent after the kernel's rewrites. Version difference:
 * `profile.rawHdrinclRejectsShortIhl`. Leaves out: xfrm, netfilter.
 */
import { FLAG_DF, headerChecksum } from '../../wire/ipv4.js';
import { kerr, type KErr } from '../errors.js';
import {
  __ip_append_data,
  __ip_make_skb,
  ip_finish_output,
  ip_fragment_refuse,
  ip_select_ident,
  ip_skb_dst_mtu,
  ip_setup_cork,
  ipcm_init_sk,
  MSG_CONFIRM,
  MSG_MORE,
  MSG_OOB,
  MSG_PROBE,
  type Flow,
  type IdState,
  type Skb,
  type WirePacket,
} from './ip_output.js';
import { ip_cmsg_send } from './ip_sockglue.js';
import { ip_route_output_flow, ipv4_is_multicast, type Rtable } from './route.js';
import type { Lab, Sock } from '../sock.js';
import { finishSend, type SendArgs, type SendOutcome } from './udp.js';

const IPPROTO_ICMP = 1;

/** `raw_sendmsg`. */
export function raw_sendmsg(lab: Lab, sk: Sock, m: SendArgs, ids: IdState): SendOutcome {
  const from = 'raw_sendmsg';
  const none: WirePacket[] = [];
  const fail = (e: KErr): SendOutcome => ({ result: e, packets: none });
  const len = m.payload.length;
  if (len > 0xffff) return fail(kerr('EMSGSIZE', from));
  const hdrincl = sk.hdrincl;
  if (m.flags & MSG_OOB) return fail(kerr('EOPNOTSUPP', from));

  let daddr: number;
  if (m.to) {
    daddr = m.to.addr;
  } else {
    if (sk.state !== 'ESTABLISHED') return fail(kerr('EDESTADDRREQ', from));
    daddr = sk.daddr;
  }

  const ipc = ipcm_init_sk(lab, sk);
  if (hdrincl) ipc.protocol = 255; // "Keep backward compat"
  if (m.control.length) {
    const err = ip_cmsg_send(lab, sk, m.control, ipc);
    if (err !== true) return fail(err);
  }
  const saddr = ipc.addr;
  ipc.addr = daddr;
  if (!ipc.opt) ipc.opt = sk.opt;
  if (ipc.opt) {
    // "Linux does not mangle headers on raw sockets, so that IP options + IP_HDRINCL is non-sense."
    if (hdrincl) return fail(kerr('EINVAL', from));
    if (ipc.opt.srr) {
      if (!daddr) return fail(kerr('EINVAL', from));
      daddr = ipc.opt.faddr;
    }
  }
  if (ipv4_is_multicast(daddr)) {
    if (!ipc.oif) ipc.oif = sk.mcIndex;
  } else if (!ipc.oif) {
    ipc.oif = sk.ucIndex;
  }
  // raw_probe_proto_opt: an ICMP socket reads type and code from the data first.
  if (!hdrincl && sk.protocol === IPPROTO_ICMP && len < 2) return fail(kerr('EFAULT', 'raw_probe_proto_opt'));

  const fl = { oif: ipc.oif, saddr, daddr, anysrc: hdrincl || sk.transparent };
  const rt = ip_route_output_flow(lab, fl);
  if ('kind' in rt) return fail(rt);
  if (rt.broadcast && !sk.broadcast) return fail(kerr('EACCES', from));
  if (m.flags & MSG_CONFIRM && m.flags & MSG_PROBE && len === 0) return { result: 0, packets: none };

  if (hdrincl) return raw_send_hdrinc(lab, sk, fl, m, rt, ids);

  if (!ipc.addr) ipc.addr = fl.daddr;
  const fl4: Flow = { saddr: fl.saddr, daddr: fl.daddr, sport: 0, dport: 0 };
  // ip_append_data: MSG_PROBE returns before the cork is set up.
  if (m.flags & MSG_PROBE) return { result: len, packets: none };
  let cork = sk.pending;
  if (!cork) {
    const c = ip_setup_cork(sk, ipc, rt, fl4);
    if ('kind' in c) return fail(c);
    cork = c;
  }
  const err = __ip_append_data(lab, sk, cork, m.payload.slice(), 0, m.flags);
  if (err !== true) {
    sk.pending = null; // ip_flush_pending_frames
    return fail(err);
  }
  if (m.flags & MSG_MORE) {
    sk.pending = cork;
    return { result: len, packets: none };
  }
  sk.pending = null;
  // ip_push_pending_frames(sk, &fl4): the addresses of the call that pushes.
  const skb = __ip_make_skb(lab, sk, cork, fl4, ids);
  return finishSend(ip_finish_output(lab, sk, skb, ids), len);
}

/** `raw_send_hdrinc`: the user's own header, with saddr, tot_len, id and check rewritten. */
function raw_send_hdrinc(
  lab: Lab,
  sk: Sock,
  fl4: { saddr: number; daddr: number },
  m: SendArgs,
  rt: Rtable,
  ids: IdState,
): SendOutcome {
  const from = 'raw_send_hdrinc';
  const none: WirePacket[] = [];
  const length = m.payload.length;
  if (length > rt.devMtu) return { result: kerr('EMSGSIZE', from), packets: none };
  if (length < 20) return { result: kerr('EINVAL', from), packets: none };
  if (m.flags & MSG_PROBE) return { result: length, packets: none };
  const pkt = m.payload.slice();
  const iphlen = (pkt[0]! & 0x0f) * 4;
  if (iphlen > length) return { result: kerr('EINVAL', from), packets: none };
  if (iphlen < 20 && lab.profile.rawHdrinclRejectsShortIhl) return { result: kerr('EINVAL', from), packets: none };
  let id: Skb['id'] = { kind: 'exact', id: (pkt[4]! << 8) | pkt[5]! };
  if (iphlen >= 20) {
    const v = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
    if (!v.getUint32(12)) v.setUint32(12, fl4.saddr);
    v.setUint16(2, length);
    if (!v.getUint16(4)) {
      // ip_select_ident(net, skb, NULL): no socket counter; skb->ignore_df is 0 here.
      const df = (v.getUint16(6) & FLAG_DF) !== 0;
      id = ip_select_ident(lab, null, df, false, ids);
    }
    v.setUint16(10, 0);
    v.setUint16(10, headerChecksum(pkt));
  }
  // NF_HOOK(LOCAL_OUT) → dst_output → ip_output: fragmented when over the PMTU and DF is clear.
  const header = pkt.slice(0, Math.max(iphlen, 20));
  const skb: Skb = {
    header,
    body: pkt.slice(header.length),
    id,
    ignoreDf: false,
    rt,
    cork: undefined as never,
    tsTimes: [],
    gsoSize: 0,
    cbOptlen: 0,
  };
  if (iphlen < 20) {
    // Sent untouched (5.10, 6.18.15): no rewrite. Over the MTU, ip_fragment still reads DF at
    // its usual offset and refuses (EMSGSIZE, and its ICMP error quotes the untouched bytes).
    // Without DF, ip_do_fragment with hlen < 20 mangles the packet (the kernel bug that
    // raw-hdrincl-ihl-0-over-route-mtu shows): predicted as the whole packet it should be.
    const mtu = ip_skb_dst_mtu(sk, rt);
    if (length > mtu && pkt[6]! & (FLAG_DF >> 8)) return finishSend(ip_fragment_refuse(lab, pkt, rt, mtu, ids), length);
    return { result: length, packets: rt.dev === 'tx' ? [{ bytes: pkt, id, tsTimes: [], userChecksum: true }] : [] };
  }
  // ip_fragment's ICMP_FRAG_NEEDED goes to the header's source, which may be an on-link host.
  return finishSend(ip_finish_output(lab, sk, skb, ids), length);
}
