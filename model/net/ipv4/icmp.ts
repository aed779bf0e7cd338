/**
 * ICMP errors the send path sends itself: net/ipv4/icmp.c `__icmp_send`
 * with `icmp_route_lookup` and `icmp_push_reply`, as `ip_fragment` calls it
 * (ICMP_DEST_UNREACH / ICMP_FRAG_NEEDED carrying the MTU) for a packet with
 * DF over the MTU. The error goes to the packet's source: for the kernel's
 * own datagrams that is a local address (through lo, nothing on tx); a raw
 * IP_HDRINCL header can name an on-link host, and then it leaves tx.
 *
 * The same on every line modelled (5.10 and 6.1 set the socket's
 * `inet->tos` where 6.18 sets `ipc.tos`: the same TOS). Leaves out: the
 * options echo (`__ip_options_echo` of a locally built skb: its IPCB holds no
 * options), xfrm (no policies in the lab: `icmp_route_lookup` keeps the first
 * route), rate limits (none apply to FRAG_NEEDED, `icmpv4_mask_allow`), input
 * routes (`icmp_errors_use_inbound_ifaddr`).
 */
import * as checksum from '../../wire/checksum.js';
import { emit as emitIpv4, HEADER_LEN as IP_HDR, FRAG_OFFSET_MASK, MIN_MTU, PROTO_ICMP } from '../../wire/ipv4.js';
import { ICMP_DEST_UNREACH } from '../../wire/icmp.js';
import { Unmodelled } from '../errors.js';
import { sysctlInt, type Lab } from '../sock.js';
import { ip_select_ident, type IdState, type WirePacket } from './ip_output.js';
import { ip_route_output_flow, RTN_MULTICAST, type Rtable } from './route.js';

export const ICMP_FRAG_NEEDED = 4;
const ICMP_HDR = 8;
/** NR_ICMP_TYPES (include/uapi/linux/icmp.h). */
const NR_ICMP_TYPES = 18;
/** IPTOS_TOS_MASK, for RT_TOS(). */
const IPTOS_TOS_MASK = 0x1e;
const IPTOS_PREC_INTERNETCONTROL = 0xc0;

/** `icmp_pointers[type].error`: the ICMP error types. */
function icmpIsError(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/**
 * `__icmp_send(skb_in, type, code, info)`: `skbIn` is the IPv4 packet as the
 * kernel built it (tot_len and checksum set), `rt` its output route. Returns
 * the error datagram if one leaves tx.
 */
export function icmp_send(lab: Lab, skbIn: Uint8Array, rt: Rtable, type: number, code: number, info: number, ids: IdState): WirePacket[] {
  if (type !== ICMP_DEST_UNREACH || code !== ICMP_FRAG_NEEDED) {
    throw new Unmodelled(`icmp_send of ICMP type ${type} code ${code} (rate limits apply)`);
  }
  // "No replies to physical multicast/broadcast", "Now check at the protocol level".
  if (rt.broadcast || rt.type === RTN_MULTICAST) return [];
  const v = new DataView(skbIn.buffer, skbIn.byteOffset, skbIn.byteLength);
  // "Only reply to fragment 0."
  if (v.getUint16(6) & FRAG_OFFSET_MASK) return [];
  const ihl = (skbIn[0]! & 0x0f) * 4;
  // "If we send an ICMP error to an ICMP error a mess would result.." (an unreadable inner type counts as one).
  if (skbIn[9] === PROTO_ICMP) {
    const inner = skbIn[ihl];
    if (inner === undefined || inner > NR_ICMP_TYPES || icmpIsError(inner)) return [];
  }
  // saddr: 0, the output route of a locally sent packet is not RTCF_LOCAL.
  const tos = (skbIn[1]! & IPTOS_TOS_MASK) | IPTOS_PREC_INTERNETCONTROL;

  // icmp_route_lookup: to the packet's source, the source address left to the route.
  const fl4 = { oif: 0, saddr: 0, daddr: v.getUint32(12), anysrc: false };
  const ort = ip_route_output_flow(lab, fl4);
  if ('kind' in ort || ort.dev !== 'tx') return [];

  // "RFC says return as much as we can without exceeding 576 bytes."
  const room = Math.min(ort.mtu, 576) - IP_HDR - ICMP_HDR;
  // "Guard against tiny mtu." (Below 68 the cork refuses first, see below.)
  if (room <= IP_HDR) return [];
  // icmp_push_reply → ip_append_data → ip_setup_cork: fragsize dst_mtu (IP_PMTUDISC_DONT) must pass
  // inetdev_valid_mtu, else -ENETUNREACH and ip_flush_pending_frames.
  if (ort.mtu < MIN_MTU) return [];
  const quoted = skbIn.subarray(0, Math.min(skbIn.length, room));

  // icmp_push_reply: ip_append_data on the ICMP socket (IP_PMTUDISC_DONT: no DF; no options,
  // TTL from the route's default), the checksum over header and data.
  const icmp = new Uint8Array(ICMP_HDR + quoted.length);
  icmp[0] = type;
  icmp[1] = code;
  new DataView(icmp.buffer).setUint32(4, info); // un.gateway = htonl(mtu)
  icmp.set(quoted, ICMP_HDR);
  const c = checksum.finish(checksum.data(icmp));
  icmp[2] = c >> 8;
  icmp[3] = c & 0xff;
  const id = ip_select_ident(lab, null, false, false, ids);
  const bytes = emitIpv4({
    tos,
    id: 0, // the rule in `id` judges it
    df: false,
    mf: false,
    fragOffset: 0,
    ttl: sysctlInt(lab, 'net.ipv4.ip_default_ttl', 64),
    protocol: PROTO_ICMP,
    src: fl4.saddr,
    dst: fl4.daddr,
    options: new Uint8Array(0),
  }, icmp);
  return [{ bytes, id, tsTimes: [] }];
}
