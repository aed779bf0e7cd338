/**
 * The case format, `skbdiff-case/1` (../shared/case-format.md), as TypeScript
 * types. A parsed case has every default filled in; the reader that produces
 * it (model/case-read.ts) is strict and names the JSON path of any fault.
 */

/** A Linux constant name (`SOL_IP`, `IP_TTL`, `MSG_MORE`) or a plain number. */
export type ConstName = string | number;

/** The value of a setsockopt or a control message, laid out as bytes by model/lower.ts. */
export type Value =
  | { int: number }
  | { u8: number }
  | { u16: number }
  | { u32: number }
  | { u64: number | string }
  | { hex: string }
  | { pktinfo: { ifindex: number | 'tx'; spec_dst: string; addr: string } };

export interface Endpoint {
  addr: string;
  port: number;
}

export interface SockoptCall {
  level: ConstName;
  name: ConstName;
  value: Value;
}

export interface CmsgSpec {
  level: ConstName;
  type: ConstName;
  value: Value;
  /** Overrides only the header's cmsg_len; the buffer is laid out as if absent. */
  cmsg_len?: number;
}

export type Payload = { length: number } | { hex: string };

/** Raw msg_control bytes (extension, README "Case format extensions"): msg_controllen = their count. */
export interface ControlSpec {
  hex: string;
}

export interface SendSpec {
  to: Endpoint | null;
  payload: Payload;
  iov: number[] | null;
  flags: ConstName[];
  cmsgs: CmsgSpec[];
  /**
   * Extension: setsockopt calls made, in order, immediately before this
   * send's sendmsg. Their results follow the socket's in the result's
   * `setsockopt` array. Absent when the case does not have the field.
   */
  setsockopt?: SockoptCall[];
  /**
   * Extension: the exact msg_control bytes, instead of `cmsgs` (a case has
   * one or the other). Absent when the case does not have the field.
   */
  control?: ControlSpec;
}

export interface NetSpec {
  mtu: number;
  route_mtu: number | null;
  sysctl: Record<string, number | string>;
  offload: { tx_checksum: boolean; gso: boolean };
}

export interface SocketSpec {
  type: 'dgram' | 'raw';
  protocol: 'udp' | 'udplite' | 'icmp' | number;
  bind: Endpoint | null;
  connect: Endpoint | null;
  setsockopt: SockoptCall[];
  /**
   * Extension (README "Case format extensions"): the network capabilities in
   * the sender's effective set while the case's socket calls are made.
   * Absent when the case does not have the field: all of them (root).
   */
  caps?: CapName[];
}

/**
 * The capabilities the IPv4 datagram send path looks at, by their numbers in
 * include/uapi/linux/capability.h: `inet_create` (raw sockets), `__inet_bind`
 * (ports below ip_unprivileged_port_start), `ns_capable` checks of options
 * and control messages (SO_MARK, SO_PRIORITY, IP_TRANSPARENT, IP options).
 */
export const NET_CAPS = { CAP_NET_BIND_SERVICE: 10, CAP_NET_ADMIN: 12, CAP_NET_RAW: 13 } as const;
export type CapName = keyof typeof NET_CAPS;

export interface Case {
  format: 'skbdiff-case/1';
  id: string;
  about?: string;
  net: NetSpec;
  socket: SocketSpec;
  sends: SendSpec[];
}

/** The fixed lab topology of case-format.md. */
export const LAB = {
  txAddr: '198.18.0.1',
  peerAddr: '198.18.0.2',
  prefixLen: 24,
  subnet: '198.18.0.0',
} as const;

export const DEFAULT_NET: NetSpec = {
  mtu: 1500,
  route_mtu: null,
  sysctl: {},
  offload: { tx_checksum: false, gso: false },
};
