/**
 * The socket calls around the send path: net/ipv4/af_inet.c `inet_create`,
 * `__inet_bind`, `inet_dgram_connect`, `inet_send_prepare`; net/ipv4/
 * datagram.c `__ip4_datagram_connect`; net/ipv4/raw.c `raw_bind`; net/ipv4/
 * ping.c `ping_init_sock`, `ping_bind`; the setsockopt dispatch of
 * net/socket.c `__sys_setsockopt` → `udp_setsockopt` / `raw_setsockopt` /
 * `ip_setsockopt`; and net/socket.c `____sys_sendmsg` (control-buffer size).
 */
import { SOL_IP_NAMES, SOL_SOCKET_NAMES } from '../../linux/constants.js';
import type { Program, SockaddrIn } from '../../program.js';
import { sk_setsockopt } from '../core/sock.js';
import { kerr, Unmodelled, type KErr } from '../errors.js';
import { newSock, sysctlInt, type Lab, type Sock, type SockKind } from '../sock.js';
import type { IdState, WirePacket } from './ip_output.js';
import { do_ip_setsockopt, SOL_IP, SOL_SOCKET, SOL_UDP, SOL_UDPLITE } from './ip_sockglue.js';
import { ping_v4_sendmsg } from './ping.js';
import { raw_sendmsg } from './raw.js';
import { inet_addr_type, ip_route_output_flow, RTN_BROADCAST, RTN_LOCAL, RTN_MULTICAST } from './route.js';
import { udp_lib_setsockopt, udp_sendmsg, type SendArgs, type SendOutcome } from './udp.js';

const SOCK_DGRAM = 2;
const SOCK_RAW = 3;
const AF_INET = 2;
const SOL_RAW = 255;
/** Option numbers some kernel defines at SOL_SOCKET / SOL_IP (an unmodelled one is a gap, an undefined one ENOPROTOOPT). */
const SOL_SOCKET_DEFINED = new Set(Object.values(SOL_SOCKET_NAMES));
const SOL_IP_DEFINED = new Set(Object.values(SOL_IP_NAMES));

/** `inet_create` (+ `ping_init_sock`): which socket, or why not. */
export function inet_create(lab: Lab, prog: Program['socket']): Sock | KErr {
  const from = 'inet_create';
  const { domain, type, protocol } = prog;
  if (domain !== AF_INET) throw new Unmodelled(`socket domain ${domain}`);
  if (protocol < 0 || protocol >= 263) return kerr('EINVAL', from);
  let kind: SockKind;
  if (type === SOCK_DGRAM) {
    if (protocol === 17 || protocol === 0) kind = 'udp';
    else if (protocol === 136) kind = 'udplite';
    else if (protocol === 1) kind = 'ping';
    else return kerr('EPROTONOSUPPORT', from);
  } else if (type === SOCK_RAW) {
    if (!lab.capNetRaw) return kerr('EPERM', from);
    if (protocol === 0) return kerr('EPROTONOSUPPORT', from);
    kind = 'raw';
  } else {
    throw new Unmodelled(`socket type ${type}`);
  }
  if (kind === 'ping') {
    // ping_init_sock: the caller's gid (root: 0) must lie in net.ipv4.ping_group_range.
    const range = (lab.sysctl.get('net.ipv4.ping_group_range') ?? '1 0').trim().split(/\s+/).map(Number);
    const [lo, hi] = [range[0] ?? 1, range[1] ?? 0];
    if (!(lo <= 0 && 0 <= hi)) return kerr('EACCES', 'ping_init_sock');
  }
  return newSock(kind, protocol === 0 ? 17 : protocol, lab);
}

/** `inet_can_nonlocal_bind`: ip_nonlocal_bind, IP_FREEBIND or IP_TRANSPARENT. */
function inet_can_nonlocal_bind(lab: Lab, sk: Sock): boolean {
  return sysctlInt(lab, 'net.ipv4.ip_nonlocal_bind', 0) !== 0 || sk.freebind || sk.transparent;
}

/**
 * Which addresses a bind accepts: `inet_addr_valid_or_nonlocal` for UDP (and raw
 * from 6.1); 5.10 `raw_bind` tests the type only; `ping_check_bind_addr` never
 * takes a broadcast or multicast address.
 */
function bindAddrOk(lab: Lab, sk: Sock, addr: number): boolean {
  const t = inet_addr_type(lab, addr);
  if (sk.kind === 'ping') {
    if (addr === 0) return true;
    return !(t === RTN_MULTICAST || t === RTN_BROADCAST || (t !== RTN_LOCAL && !inet_can_nonlocal_bind(lab, sk)));
  }
  const nonlocal = (sk.kind !== 'raw' || lab.profile.rawBindAllowsNonlocal) && inet_can_nonlocal_bind(lab, sk);
  return nonlocal || addr === 0 || t === RTN_LOCAL || t === RTN_MULTICAST || t === RTN_BROADCAST;
}

/** `__inet_bind` / `raw_bind` / `ping_bind`. `sport` is the port the kernel picked when 0 was asked. */
export function inet_bind(lab: Lab, sk: Sock, a: SockaddrIn, sport: number): true | KErr {
  const from = sk.kind === 'raw' ? 'raw_bind' : sk.kind === 'ping' ? 'ping_bind' : '__inet_bind';
  if (sk.kind === 'raw' && sk.state !== 'CLOSE') return kerr('EINVAL', from);
  if (!bindAddrOk(lab, sk, a.addr)) return kerr('EADDRNOTAVAIL', from);
  // inet_port_requires_bind_service: a port below ip_unprivileged_port_start (PROT_SOCK).
  if ((sk.kind === 'udp' || sk.kind === 'udplite') && a.port && a.port < sysctlInt(lab, 'net.ipv4.ip_unprivileged_port_start', 1024) && !lab.capNetBindService) {
    return kerr('EACCES', from);
  }
  if (sk.kind !== 'raw' && (sk.state !== 'CLOSE' || sk.num)) return kerr('EINVAL', from);
  const t = inet_addr_type(lab, a.addr);
  sk.rcvSaddr = a.addr;
  sk.saddr = t === RTN_MULTICAST || t === RTN_BROADCAST ? 0 : a.addr; // "Use device"
  if (sk.kind !== 'raw') {
    sk.num = a.port || sport;
    sk.sport = sk.num;
  }
  return true;
}

/** `inet_send_prepare` → `inet_autobind`: UDP and ping sockets get a port/ident at first use. */
export function inet_autobind(sk: Sock, sport: number): void {
  if (sk.kind !== 'raw' && !sk.num) {
    sk.num = sport;
    sk.sport = sport;
  }
}

/** `inet_dgram_connect` → `__ip4_datagram_connect`. */
export function ip4_datagram_connect(lab: Lab, sk: Sock, a: SockaddrIn, sport: number, ids: IdState): true | KErr {
  inet_autobind(sk, sport);
  const fl = { oif: sk.boundDevIf || sk.ucIndex, saddr: sk.saddr, daddr: a.addr, anysrc: sk.transparent || sk.hdrincl };
  const rt = ip_route_output_flow(lab, fl);
  if ('kind' in rt) return rt;
  if (rt.broadcast && !sk.broadcast) return kerr('EACCES', '__ip4_datagram_connect');
  if (!sk.saddr) sk.saddr = fl.saddr;
  if (!sk.rcvSaddr) sk.rcvSaddr = fl.saddr;
  sk.daddr = fl.daddr;
  sk.dport = a.port;
  sk.state = 'ESTABLISHED';
  // ip_route_connect filled inet->cork.fl.u.ip4; sk_dst_set keeps the route.
  sk.corkFl = { saddr: fl.saddr, daddr: fl.daddr, sport: sk.sport, dport: a.port };
  // inet_id = get_random_u16(): an opaque new base for the socket's counter.
  ids.connectedGroup = ids.nextGroup++;
  sk.idCount = 0;
  return true;
}

/** `__sys_setsockopt` dispatch. UDP_CORK = 0 may push a corked datagram. */
export function setsockopt(
  lab: Lab,
  sk: Sock,
  level: number,
  optname: number,
  optval: Uint8Array,
  ids: IdState,
): { result: true | KErr; packets: WirePacket[] } {
  const none: WirePacket[] = [];
  if (level === SOL_SOCKET) {
    if (!SOL_SOCKET_DEFINED.has(optname)) return { result: kerr('ENOPROTOOPT', 'sk_setsockopt'), packets: none };
    return { result: sk_setsockopt(lab, sk, optname, optval), packets: none };
  }
  if ((sk.kind === 'udp' || sk.kind === 'udplite') && (level === SOL_UDP || level === SOL_UDPLITE)) {
    return udp_lib_setsockopt(lab, sk, optname, optval, ids);
  }
  if (sk.kind === 'raw' && level === SOL_RAW) {
    if (optname === 1 && sk.protocol === 1) throw new Unmodelled('ICMP_FILTER');
    return { result: kerr('ENOPROTOOPT', 'do_raw_setsockopt'), packets: none };
  }
  if (level !== SOL_IP) return { result: kerr('ENOPROTOOPT', 'ip_setsockopt'), packets: none };
  if (!SOL_IP_DEFINED.has(optname)) return { result: kerr('ENOPROTOOPT', 'do_ip_setsockopt'), packets: none };
  return { result: do_ip_setsockopt(lab, sk, optname, optval), packets: none };
}

/** `____sys_sendmsg` → `sock_sendmsg` → `inet_sendmsg` → the protocol's sendmsg. */
export function sendmsg(lab: Lab, sk: Sock, m: SendArgs, sport: number, ids: IdState): SendOutcome {
  const ctl = m.control.length;
  if (ctl > 0x7fffffff) return { result: kerr('ENOBUFS', '____sys_sendmsg'), packets: [] };
  if (ctl > 36) {
    // sock_kmalloc: size <= optmem_max and omem_alloc + size < optmem_max.
    const optmem = sysctlInt(lab, 'net.core.optmem_max', lab.profile.optmemMaxDefault);
    if (!(ctl <= optmem && ctl < optmem)) return { result: kerr('ENOBUFS', 'sock_kmalloc'), packets: [] };
  }
  inet_autobind(sk, sport);
  switch (sk.kind) {
    case 'udp':
    case 'udplite':
      return udp_sendmsg(lab, sk, m, ids);
    case 'raw':
      return raw_sendmsg(lab, sk, m, ids);
    case 'ping':
      return ping_v4_sendmsg(lab, sk, m, ids);
  }
}
