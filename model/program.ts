/**
 * A case lowered to what the syscalls see: every name resolved to its number,
 * every value and control buffer laid out as bytes. The model reads this (it
 * parses the same control bytes the kernel parses, with `for_each_cmsghdr`),
 * and the harness sends exactly this to the probe (harness/probe/protocol.ts).
 */

/** IPv4 address as an unsigned 32-bit number in host order (198.18.0.1 = 0xc6120001). */
export type Ip4 = number;

export interface SockaddrIn {
  addr: Ip4;
  port: number;
}

export interface ProgramSockopt {
  level: number;
  name: number;
  value: Uint8Array;
}

export interface ProgramSend {
  /** setsockopt calls made, in order, immediately before this send's sendmsg (empty for most cases). */
  setsockoptBefore: ProgramSockopt[];
  to: SockaddrIn | null;
  payload: Uint8Array;
  /** iovec lengths; their sum is payload.length. One iovec when the case has none. */
  iov: number[];
  flags: number;
  /** The msg_control buffer, byte for byte (msg_controllen = control.length). */
  control: Uint8Array;
  /**
   * Byte offsets in `control` of 4-byte native-endian ifindex fields written as
   * `"tx"` in the case: the probe writes the tx interface's ifindex there.
   */
  txIfindexAt: number[];
}

export interface Program {
  id: string;
  net: {
    mtu: number;
    routeMtu: number | null;
    /** In case order; names with dots (`net.ipv4.ip_default_ttl`), values as text. */
    sysctl: Array<[string, string]>;
    txChecksum: boolean;
    gso: boolean;
  };
  socket: {
    domain: number;
    type: number;
    protocol: number;
    /**
     * Extension: the capability numbers (model/case.ts NET_CAPS) left in the
     * sender's effective set for the socket calls; the other network ones are
     * dropped. null or absent: all of them, as root.
     */
    caps?: number[] | null;
  };
  setsockopt: ProgramSockopt[];
  bind: SockaddrIn | null;
  connect: SockaddrIn | null;
  sends: ProgramSend[];
}

/**
 * Values the kernel picks at run time that decide other bytes. The harness
 * reads them from the kernel and hands them to the model (case-format.md,
 * "Comparing"); the model's defaults stand in when it predicts alone.
 */
export interface RunInputs {
  /** Source port (UDP) or echo identifier (ping) from getsockname after the sends. */
  sport: number | null;
  /** The tx interface's ifindex in the case's namespace. */
  txIfindex: number;
  /**
   * The tx device takes UDP GSO packets whole (NETIF_F_GSO_UDP_L4 with offload.gso
   * on). veth has it from 6.1 (`profile.gsoSoftwareHasUdpL4`, the default); a
   * guest NIC has it only if it negotiated VIRTIO_NET_F_HOST_USO: its target says so.
   */
  txGsoUdpL4: boolean | null;
  /**
   * MAX_HEADER of the kernel's build (include/linux/netdevice.h: LL_MAX_HEADER
   * 32, 96 or 128, + 48 with an IP tunnel built): it sizes skb_small_head_cache
   * from 6.3 (smallHeadCacheSize), so the truesize of small skbs. Read from the
   * kernel's config by the target; null: unknown, and the model bounds it.
   */
  maxHeader: number | null;
}

export function ip4(text: string): Ip4 {
  const parts = text.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
    n = n * 256 + Number(p);
  }
  return n >>> 0;
}

export function ip4ToString(a: Ip4): string {
  return [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.');
}
