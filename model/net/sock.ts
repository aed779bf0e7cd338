/**
 * The state of one socket that the send path reads: the fields of
 * `struct sock`, `struct inet_sock` and `struct udp_sock` (include/net/sock.h,
 * include/net/inet_sock.h, include/linux/udp.h) that skbdiff models, plus the
 * lab network the socket lives in. Model-only shapes are camelCase.
 */
import type { Profile } from '../profiles.js';
import type { IpOptions } from './ipv4/ip_options.js';
import type { Cork } from './ipv4/ip_output.js';

export const IP_PMTUDISC_DONT = 0;
export const IP_PMTUDISC_WANT = 1;
export const IP_PMTUDISC_DO = 2;
export const IP_PMTUDISC_PROBE = 3;
export const IP_PMTUDISC_INTERFACE = 4;
export const IP_PMTUDISC_OMIT = 5;

export type SockKind = 'udp' | 'udplite' | 'raw' | 'ping';

export interface Sock {
  kind: SockKind;
  /** sk_protocol: 17, 136, 1 or the raw protocol. */
  protocol: number;
  state: 'CLOSE' | 'ESTABLISHED';

  // struct inet_sock
  /** inet_num: the bound port/ident (raw: the protocol); 0 while unbound. */
  num: number;
  /** inet_sport in host order (the harness reads the real one back). */
  sport: number;
  saddr: number;
  rcvSaddr: number;
  daddr: number;
  dport: number;
  ucTtl: number;
  mcTtl: number;
  tos: number;
  pmtudisc: number;
  hdrincl: boolean;
  recverr: boolean;
  freebind: boolean;
  transparent: boolean;
  ucIndex: number;
  mcIndex: number;
  mcAddr: number;
  /** inet_opt: options from IP_OPTIONS, compiled. */
  opt: IpOptions | null;
  /** inet_id counter, as an offset from the opaque value connect() drew (see ip_select_ident). */
  idCount: number;
  /**
   * inet->cork.fl.u.ip4: the flow connect() routed, whose addresses and ports each
   * corked UDP send then overwrites; a connected UDP send on the cached route
   * builds its datagram from it (udp_sendmsg). null until connect().
   */
  corkFl: { saddr: number; daddr: number; sport: number; dport: number } | null;

  // struct sock
  mark: number;
  priority: number;
  broadcast: boolean;
  localroute: boolean;
  noCheckTx: boolean;
  txtime: boolean;
  tsflags: number;
  boundDevIf: number;
  sndbuf: number;

  // struct udp_sock
  corkflag: boolean;
  gsoSize: number;
  /** UDP-Lite: UDPLITE_SEND_CC set and the send coverage. */
  pcflagSendCC: boolean;
  pcslen: number;
  /** up->pending: the corked datagram, or null. */
  pending: Cork | null;
}

/** The lab of case-format.md as the model sees it: devices, addresses, sysctls. */
export interface Lab {
  profile: Profile;
  devMtu: number;
  routeMtu: number | null;
  txIfindex: number;
  txChecksum: boolean;
  gso: boolean;
  /** The tx device has NETIF_F_GSO_UDP_L4 (a run input; see RunInputs.txGsoUdpL4). */
  txGsoUdpL4: boolean;
  /** MAX_HEADER of the kernel's config, or null (a run input; see RunInputs.maxHeader). */
  maxHeader: number | null;
  sysctl: Map<string, string>;
  /** The probe runs as root: CAP_NET_RAW and CAP_NET_ADMIN in the case's user namespace. */
  capNetRaw: boolean;
  capNetAdmin: boolean;
  capNetBindService: boolean;
}

export function sysctlInt(lab: Lab, name: string, dflt: number): number {
  const v = lab.sysctl.get(name);
  if (v === undefined) return dflt;
  const n = Number.parseInt(v.trim(), 10);
  return Number.isNaN(n) ? dflt : n;
}

/** inet_create (net/ipv4/af_inet.c): the initial state of a new socket. */
export function newSock(kind: SockKind, protocol: number, lab: Lab): Sock {
  return {
    kind,
    protocol,
    state: 'CLOSE',
    num: kind === 'raw' ? protocol : 0,
    sport: 0,
    saddr: 0,
    rcvSaddr: 0,
    daddr: 0,
    dport: 0,
    ucTtl: -1,
    mcTtl: 1,
    tos: 0,
    pmtudisc: sysctlInt(lab, 'net.ipv4.ip_no_pmtu_disc', 0) !== 0 ? IP_PMTUDISC_DONT : IP_PMTUDISC_WANT,
    hdrincl: kind === 'raw' && protocol === 255,
    recverr: false,
    freebind: false,
    transparent: false,
    ucIndex: 0,
    mcIndex: 0,
    mcAddr: 0,
    opt: null,
    idCount: 0,
    corkFl: null,
    mark: 0,
    priority: 0,
    broadcast: false,
    localroute: false,
    noCheckTx: false,
    txtime: false,
    tsflags: 0,
    boundDevIf: 0,
    sndbuf: 212992,
    corkflag: false,
    gsoSize: 0,
    pcflagSendCC: false,
    pcslen: 0,
    pending: null,
  };
}

/** `ip_sk_use_pmtu` (include/net/ip.h): DONT, WANT and DO follow the route's MTU. */
export function ip_sk_use_pmtu(sk: Sock): boolean {
  return sk.pmtudisc < IP_PMTUDISC_PROBE;
}

/** `ip_sk_ignore_df` (include/net/ip.h): DONT, WANT and OMIT may fragment locally. */
export function ip_sk_ignore_df(sk: Sock): boolean {
  return sk.pmtudisc < IP_PMTUDISC_DO || sk.pmtudisc === IP_PMTUDISC_OMIT;
}
