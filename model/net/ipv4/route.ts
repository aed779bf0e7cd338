/**
 * Routing in the lab of case-format.md: `lo` (127.0.0.1/8) and `tx`
 * (198.18.0.1/24, IFA_F_NOPREFIXROUTE, route 198.18.0.0/24 dev tx scope link
 * src 198.18.0.1 with an optional locked MTU), no default route.
 *
 * Mirrors net/ipv4/route.c `ip_route_output_key_hash_rcu`, `__mkroute_output`,
 * `ipv4_mtu`, net/ipv4/fib_frontend.c `__inet_dev_addr_type`,
 * `fib_add_ifaddr` for the routes an address creates. All versions, except
 * `profile.subnetZeroIsBroadcast`. Leaves out: multicast routing, policy
 * rules, l3mdev, xfrm, an oif other than tx.
 */
import { LAB } from '../../case.js';
import { ip4 } from '../../program.js';
import { kerr, Unmodelled, type KErr } from '../errors.js';
import { sysctlInt, type Lab } from '../sock.js';

export const RTN_UNICAST = 'unicast';
export const RTN_LOCAL = 'local';
export const RTN_BROADCAST = 'broadcast';
export const RTN_MULTICAST = 'multicast';
export type RtnType = 'unicast' | 'local' | 'broadcast' | 'multicast';

export const LOOPBACK_IFINDEX = 1;
/** IP_MAX_MTU (include/net/ip.h). */
export const IP_MAX_MTU = 0xffff;
const LO_MTU = 65536;

export const TX_ADDR = ip4(LAB.txAddr);
const TX_MASK = 0xffffff00;
const TX_NET = (TX_ADDR & TX_MASK) >>> 0;
const TX_BCAST = (TX_NET | ~TX_MASK) >>> 0;
const LOOPBACK = ip4('127.0.0.1');
const LOOPBACK_BCAST = ip4('127.255.255.255');
const LOOPBACK_NET = ip4('127.0.0.0');
const LOCAL_MCAST_NET = ip4('224.0.0.0');

export function ipv4_is_multicast(a: number): boolean {
  return (a >>> 28) === 0xe;
}
export function ipv4_is_lbcast(a: number): boolean {
  return a === 0xffffffff;
}
export function ipv4_is_zeronet(a: number): boolean {
  return (a >>> 24) === 0;
}
export function ipv4_is_loopback(a: number): boolean {
  return (a >>> 24) === 127;
}

/** A resolved output route (`struct rtable`), reduced to what the send path reads. */
export interface Rtable {
  type: RtnType;
  /** The output device: nothing routed through `lo` reaches tx. */
  dev: 'tx' | 'lo';
  devMtu: number;
  /** dst_mtu(): `ipv4_mtu`. */
  mtu: number;
  /** ip_mtu_locked(): the route's MTU metric is locked. */
  mtuLocked: boolean;
  /** RTCF_BROADCAST */
  broadcast: boolean;
}

/** `struct flowi4`, the fields a lookup reads and fills. */
export interface Flowi4 {
  oif: number;
  saddr: number;
  daddr: number;
  /** FLOWI_FLAG_ANYSRC (`inet_sk_flowi_flags`: IP_TRANSPARENT or hdrincl). */
  anysrc: boolean;
}

/** The local table's answer for an address (`__inet_dev_addr_type` with RT_TABLE_LOCAL). */
export function inet_addr_type(lab: Lab, addr: number): RtnType {
  if (ipv4_is_zeronet(addr) || ipv4_is_lbcast(addr)) return RTN_BROADCAST;
  if (ipv4_is_multicast(addr)) return RTN_MULTICAST;
  // lo's routes: local 127.0.0.0/8, broadcast 127.255.255.255 (and 127.0.0.0 while
  // the subnet's lowest address was a broadcast route).
  if (addr === LOOPBACK_BCAST || (addr === LOOPBACK_NET && lab.profile.subnetZeroIsBroadcast)) return RTN_BROADCAST;
  if (ipv4_is_loopback(addr)) return RTN_LOCAL;
  if (addr === TX_ADDR) return RTN_LOCAL;
  if (addr === TX_BCAST) return RTN_BROADCAST;
  if (addr === TX_NET && lab.profile.subnetZeroIsBroadcast) return RTN_BROADCAST;
  return RTN_UNICAST;
}

/** `__ip_dev_find(net, addr, false)` != NULL: the address is configured here. */
function isLocalAddress(lab: Lab, addr: number): boolean {
  return inet_addr_type(lab, addr) === RTN_LOCAL;
}

function txRoute(lab: Lab, type: RtnType, withMetrics: boolean): Rtable {
  const metricMtu = withMetrics ? lab.routeMtu : null;
  // ipv4_mtu: the route's RTAX_MTU metric, else the device MTU; clamped to IP_MAX_MTU.
  const mtu = Math.min(metricMtu ?? lab.devMtu, IP_MAX_MTU);
  return {
    type,
    dev: 'tx',
    devMtu: lab.devMtu,
    mtu,
    mtuLocked: metricMtu !== null,
    broadcast: type === RTN_BROADCAST,
  };
}

function loRoute(type: RtnType): Rtable {
  return { type, dev: 'lo', devMtu: LO_MTU, mtu: Math.min(LO_MTU, IP_MAX_MTU), mtuLocked: false, broadcast: type === RTN_BROADCAST };
}

/**
 * `ip_route_output_flow` → `ip_route_output_key_hash_rcu` for the lab. Fills
 * `fl4.saddr`/`fl4.daddr` like the kernel and returns the route or the errno.
 */
export function ip_route_output_flow(lab: Lab, fl4: Flowi4): Rtable | KErr {
  const from = 'ip_route_output_key_hash_rcu';
  if (fl4.saddr) {
    if (ipv4_is_multicast(fl4.saddr) || ipv4_is_lbcast(fl4.saddr) || ipv4_is_zeronet(fl4.saddr)) return kerr('EINVAL', from);
    if (fl4.oif === 0 && (ipv4_is_multicast(fl4.daddr) || ipv4_is_lbcast(fl4.daddr))) {
      // "It is equivalent to inet_addr_type(saddr) == RTN_LOCAL": the device owning saddr.
      if (!isLocalAddress(lab, fl4.saddr)) return kerr('ENETUNREACH', from);
      if (ipv4_is_loopback(fl4.saddr)) return loRoute(ipv4_is_lbcast(fl4.daddr) ? RTN_BROADCAST : RTN_MULTICAST);
      return mkrouteOutput(lab, fl4, txRoute(lab, RTN_UNICAST, false));
    }
    if (!fl4.anysrc && !isLocalAddress(lab, fl4.saddr)) return kerr('ENETUNREACH', from);
  }
  if (fl4.oif) {
    if (fl4.oif !== lab.txIfindex && fl4.oif !== LOOPBACK_IFINDEX) return kerr('ENODEV', from);
    if (fl4.oif === LOOPBACK_IFINDEX) throw new Unmodelled('an output interface of lo (ifindex 1)');
    if (ipv4_is_lbcast(fl4.daddr) || (fl4.daddr & 0xffffff00) >>> 0 === LOCAL_MCAST_NET) {
      if (!fl4.saddr) fl4.saddr = TX_ADDR; // inet_select_addr(dev_out, 0, RT_SCOPE_LINK)
      return mkrouteOutput(lab, fl4, txRoute(lab, ipv4_is_lbcast(fl4.daddr) ? RTN_BROADCAST : RTN_MULTICAST, false));
    }
    if (!fl4.saddr && (ipv4_is_multicast(fl4.daddr) || !fl4.daddr)) fl4.saddr = TX_ADDR;
  }
  if (!fl4.daddr) {
    fl4.daddr = fl4.saddr;
    if (!fl4.daddr) fl4.daddr = fl4.saddr = LOOPBACK;
    return loRoute(RTN_LOCAL);
  }

  // fib_lookup: the local table, then main (198.18.0.0/24 dev tx src 198.18.0.1).
  const type = inet_addr_type(lab, fl4.daddr);
  if (type === RTN_LOCAL) {
    if (!fl4.saddr) fl4.saddr = ipv4_is_loopback(fl4.daddr) ? LOOPBACK : fl4.daddr; // fib_prefsrc
    return loRoute(RTN_LOCAL);
  }
  const onTxLink = (fl4.daddr & TX_MASK) >>> 0 === TX_NET;
  if (ipv4_is_loopback(fl4.daddr)) {
    // lo's broadcast addresses (RTN_BROADCAST in the local table).
    if (!fl4.saddr) fl4.saddr = LOOPBACK;
    return loRoute(RTN_BROADCAST);
  }
  if (type === RTN_BROADCAST && onTxLink) {
    if (!fl4.saddr) fl4.saddr = TX_ADDR;
    return mkrouteOutput(lab, fl4, txRoute(lab, RTN_BROADCAST, false));
  }
  if (onTxLink && (fl4.oif === 0 || fl4.oif === lab.txIfindex)) {
    if (!fl4.saddr) fl4.saddr = TX_ADDR;
    return mkrouteOutput(lab, fl4, txRoute(lab, RTN_UNICAST, true));
  }
  if (fl4.oif) {
    // "Apparently, routing tables are wrong. Assume, that the destination is on link."
    if (!fl4.saddr) fl4.saddr = TX_ADDR;
    return mkrouteOutput(lab, fl4, txRoute(lab, ipv4_is_multicast(fl4.daddr) ? RTN_MULTICAST : RTN_UNICAST, false));
  }
  return kerr('ENETUNREACH', 'fib_lookup');
}

/** `__mkroute_output`: a loopback source never leaves a real device (unless IN_DEV_ROUTE_LOCALNET); the destination class decides the route type. */
function mkrouteOutput(lab: Lab, fl4: Flowi4, rt: Rtable): Rtable | KErr {
  if (ipv4_is_loopback(fl4.saddr) && rt.dev === 'tx' && !(sysctlInt(lab, 'net.ipv4.conf.all.route_localnet', 0) || sysctlInt(lab, 'net.ipv4.conf.tx.route_localnet', 0))) {
    return kerr('EINVAL', '__mkroute_output');
  }
  if (ipv4_is_lbcast(fl4.daddr)) return { ...rt, type: RTN_BROADCAST, broadcast: true };
  if (ipv4_is_multicast(fl4.daddr)) return { ...rt, type: RTN_MULTICAST, broadcast: false };
  if (ipv4_is_zeronet(fl4.daddr)) return kerr('EINVAL', '__mkroute_output');
  return rt;
}
