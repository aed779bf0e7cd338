/**
 * Ping sockets (SOCK_DGRAM, IPPROTO_ICMP): net/ipv4/ping.c
 * `ping_common_sendmsg`, `ping_supported`, `ping_v4_sendmsg`, `ping_getfrag`,
 * `ping_v4_push_pending_frames`. The echo identifier is the socket's ident
 * (a run-time input); the checksum is always software, with no 0 → 0xFFFF
 * mapping. Version difference: `profile.pingExtEcho`.
 */
import * as checksum from '../../wire/checksum.js';
import { kerr, type KErr } from '../errors.js';
import {
  __ip_append_data,
  __ip_make_skb,
  ip_finish_output,
  ip_setup_cork,
  ipcm_init_sk,
  MSG_CONFIRM,
  MSG_OOB,
  MSG_PROBE,
  type Flow,
  type IdState,
  type WirePacket,
} from './ip_output.js';
import { ip_cmsg_send } from './ip_sockglue.js';
import { ip_route_output_flow, ipv4_is_multicast } from './route.js';
import type { Lab, Sock } from '../sock.js';
import { finishSend, type SendArgs, type SendOutcome } from './udp.js';

const ICMP_ECHO = 8;
const ICMP_EXT_ECHO = 42;
const ICMPHDR = 8;

/** `ping_supported` for AF_INET. */
function ping_supported(lab: Lab, type: number, code: number): boolean {
  return (type === ICMP_ECHO && code === 0) || (lab.profile.pingExtEcho && type === ICMP_EXT_ECHO && code === 0);
}

/** `ping_v4_sendmsg` (with `ping_common_sendmsg` first). */
export function ping_v4_sendmsg(lab: Lab, sk: Sock, m: SendArgs, ids: IdState): SendOutcome {
  const none: WirePacket[] = [];
  const fail = (e: KErr): SendOutcome => ({ result: e, packets: none });
  const len = m.payload.length;
  // ping_common_sendmsg
  if (len > 0xffff) return fail(kerr('EMSGSIZE', 'ping_common_sendmsg'));
  if (len < ICMPHDR) return fail(kerr('EINVAL', 'ping_common_sendmsg'));
  if (m.flags & MSG_OOB) return fail(kerr('EOPNOTSUPP', 'ping_common_sendmsg'));
  const type = m.payload[0]!;
  const code = m.payload[1]!;
  if (!ping_supported(lab, type, code)) return fail(kerr('EINVAL', 'ping_common_sendmsg'));

  const from = 'ping_v4_sendmsg';
  let daddr: number;
  if (m.to) {
    daddr = m.to.addr;
  } else {
    if (sk.state !== 'ESTABLISHED') return fail(kerr('EDESTADDRREQ', from));
    daddr = sk.daddr;
  }
  const ipc = ipcm_init_sk(lab, sk);
  if (m.control.length) {
    const err = ip_cmsg_send(lab, sk, m.control, ipc);
    if (err !== true) return fail(err);
  }
  if (!ipc.opt) ipc.opt = sk.opt;
  let saddr = ipc.addr;
  let faddr = daddr;
  ipc.addr = daddr;
  if (ipc.opt && ipc.opt.srr) {
    if (!daddr) return fail(kerr('EINVAL', from));
    faddr = ipc.opt.faddr;
  }
  if (ipv4_is_multicast(daddr)) {
    if (!ipc.oif) ipc.oif = sk.mcIndex;
    if (!saddr) saddr = sk.mcAddr;
  } else if (!ipc.oif) {
    ipc.oif = sk.ucIndex;
  }
  const fl = { oif: ipc.oif, saddr, daddr: faddr, anysrc: sk.transparent };
  const rt = ip_route_output_flow(lab, fl);
  if ('kind' in rt) return fail(rt);
  if (rt.broadcast && !sk.broadcast) return fail(kerr('EACCES', from));
  if (m.flags & MSG_CONFIRM && m.flags & MSG_PROBE && len === 0) return { result: 0, packets: none };
  if (!ipc.addr) ipc.addr = fl.daddr;

  // ip_append_data: MSG_PROBE returns 0 before the cork; the push then finds an empty queue.
  if (m.flags & MSG_PROBE) return { result: len, packets: none };
  const fl4: Flow = { saddr: fl.saddr, daddr: fl.daddr, sport: sk.sport, dport: 0 };
  const cork = ip_setup_cork(sk, ipc, rt, fl4);
  if ('kind' in cork) return fail(cork);
  // ping_getfrag: the fake header (type, code, 0, id = ident, the user's sequence), then the data.
  const bytes = m.payload.slice();
  bytes[2] = 0;
  bytes[3] = 0;
  bytes[4] = sk.sport >> 8;
  bytes[5] = sk.sport & 0xff;
  const err = __ip_append_data(lab, sk, cork, bytes, ICMPHDR, m.flags);
  if (err !== true) return fail(err);
  const skb = __ip_make_skb(lab, sk, cork, fl4, ids);
  // ping_v4_push_pending_frames: csum_fold over header and data, no mapping of 0.
  const c = checksum.finish(checksum.data(skb.body));
  skb.body[2] = c >> 8;
  skb.body[3] = c & 0xff;
  return finishSend(ip_finish_output(lab, sk, skb, ids), len);
}
