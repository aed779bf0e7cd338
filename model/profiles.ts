/**
 * Version profiles: every behaviour of the IPv4 datagram send path that
 * changed between the kernel lines skbdiff models is one named switch here,
 * with the change that introduced it. Model code reads `profile.X`; it never
 * tests a version itself.
 *
 * Sources: ../shared/kernel-notes.md §11 (Debian 5.10.223, 6.1.176, 6.12.107,
 * upstream 6.18.15, live 6.18.44). Where a change reached a line through a
 * stable backport, the switch turns on at the first point release known to
 * carry it; older point releases of that line are unverified.
 */

export interface Profile {
  /** The line this profile models ("5.10", "6.1", "6.12", "6.18"), and the release it was chosen for. */
  line: string;
  release: string;
  /** [major, minor, patch] parsed from the release. */
  version: [number, number, number];

  /** `__sock_cmsg_send` SO_MARK: CAP_NET_ADMIN only (5.10) or CAP_NET_RAW or CAP_NET_ADMIN (6.1+). "net: Allow SO_MARK with CAP_NET_RAW via cmsg" (subject unverified). */
  soMarkCmsgAllowsNetRaw: boolean;
  /** `sk_setsockopt` SO_PRIORITY above 6: CAP_NET_ADMIN only (5.10) or CAP_NET_RAW or CAP_NET_ADMIN (6.1+), like SO_MARK. */
  soPriorityAllowsNetRaw: boolean;
  /** `__sock_cmsg_send` handles SO_PRIORITY (around 6.14; subject unverified). */
  soPriorityCmsg: boolean;
  /** `__sock_cmsg_send` handles SCM_TS_OPT_ID (around 6.13) and SCM_DEVMEM_DMABUF (around 6.12+; accepted in 6.18). */
  scmTsOptId: boolean;
  scmDevmemDmabuf: boolean;
  /** `SOF_TIMESTAMPING_TX_RECORD_MASK`: 0x303, plus SOF_TIMESTAMPING_TX_COMPLETION (1<<18) around 6.16. */
  timestampingTxRecordMask: number;
  /**
   * `SOF_TIMESTAMPING_MASK` for the SO_TIMESTAMPING setsockopt (`sock_set_timestamping`):
   * 5.10 ends at OPT_TX_SWHW (0x7fff), BIND_PHC (5.14) 0xffff, OPT_ID_TCP (6.2) and
   * OPT_RX_FILTER (6.5) 0x3ffff, TX_COMPLETION 0x7ffff (values from the uapi header history; unverified per point release).
   */
  timestampingFlagsMask: number;
  /** Default `net.core.optmem_max`: 20480, per-netns 131072 from 6.9 ("net: make optmem_max per netns" — subject unverified). */
  optmemMaxDefault: number;

  /**
   * `udp_send_skb` segment-size check: 5.10 tests `hlen + gso_size > fragsize` → EINVAL;
   * later `hlen + min(datalen, gso_size) > fragsize` → EMSGSIZE (upstream 235174b,
   * "udp: gso: do not drop small packets when PMTU reduces", backported to 6.1.176, 6.12.107).
   */
  udpGsoSizeCheckUsesMin: boolean;
  /** `UDP_MAX_SEGMENTS`: 64 in 5.10, 128 later ("udp: Increase UDP_MAX_SEGMENTS to 128"). */
  udpMaxSegments: number;
  /** `udp_send_skb`: a GSO send whose skb is not CHECKSUM_PARTIAL gives EIO (until "udp: Allow GSO transmit from devices with no checksum offload", 6.12). */
  udpGsoNeedsChecksumOffload: boolean;

  /** `ip_select_ident_segs` on a connected non-TCP socket: old value then += segs (5.10), or atomic_add_return (6.1.176+; "ipv4: fix data-races around inet->inet_id"). */
  connectedIdAddReturn: boolean;
  /** `ip_options_get`: LSRR/SSRR need CAP_NET_RAW, else EPERM ("ipv4: restrict IPOPT_SSRR and IPOPT_LSRR options"). */
  srrNeedsCapNetRaw: boolean;
  /** `raw_send_hdrinc`: a header with ihl < 5 is rejected with EINVAL (else sent untouched). */
  rawHdrinclRejectsShortIhl: boolean;
  /** `ping_supported`: ICMP_EXT_ECHO (42) accepted (6.1+, RFC 8335 PROBE). */
  pingExtEcho: boolean;
  /** `fib_add_ifaddr`: the subnet's lowest address is a broadcast route (until 5.14, "ip: Treat IPv4 segment's lowest address as unicast"). */
  subnetZeroIsBroadcast: boolean;
  /** `ipcm_init_sk` pre-loads `ipc.tos = inet->tos` (6.18, include/net/ip.h): a cork keeps the TOS the socket had when it started. Older lines start at -1 and read inet->tos in `__ip_make_skb`. */
  ipcmTosFromSocket: boolean;
  /** `sk_setsockopt` SO_TXTIME: `sockopt_validate_clockid` allows only REALTIME, MONOTONIC and TAI (6.12+). */
  txtimeValidatesClockid: boolean;
  /** `raw_bind` honours ip_nonlocal_bind, IP_FREEBIND and IP_TRANSPARENT (`inet_addr_valid_or_nonlocal`; 5.10 `raw.c` tests only the address type). */
  rawBindAllowsNonlocal: boolean;
  /** `kmalloc_reserve` takes small skb heads from skb_small_head_cache (6.3, "net: add dedicated kmem_cache for typical/small skb->head"): a larger truesize for small skbs. */
  skbSmallHeadCache: boolean;
  /** `ip_do_fragment`: `mtu < hlen + 8` gives EMSGSIZE (seen in 6.12.107 only; elsewhere the slow path is unguarded). */
  ipDoFragmentChecksMtu: boolean;
  /** `NETIF_F_GSO_SOFTWARE` includes `NETIF_F_GSO_UDP_L4` (6.1+): with gso on, veth receives the unsegmented UDP GSO packet. */
  gsoSoftwareHasUdpL4: boolean;
}

type Switches = Omit<Profile, 'line' | 'release' | 'version'>;

const LINE_5_10: Switches = {
  soMarkCmsgAllowsNetRaw: false,
  soPriorityAllowsNetRaw: false,
  soPriorityCmsg: false,
  scmTsOptId: false,
  scmDevmemDmabuf: false,
  timestampingTxRecordMask: 0x303,
  timestampingFlagsMask: 0x7fff,
  optmemMaxDefault: 20480,
  udpGsoSizeCheckUsesMin: false,
  udpMaxSegments: 64,
  udpGsoNeedsChecksumOffload: true,
  connectedIdAddReturn: false,
  srrNeedsCapNetRaw: false,
  rawHdrinclRejectsShortIhl: false,
  pingExtEcho: false,
  subnetZeroIsBroadcast: true,
  gsoSoftwareHasUdpL4: false,
  ipcmTosFromSocket: false,
  ipDoFragmentChecksMtu: false,
  skbSmallHeadCache: false,
  txtimeValidatesClockid: false,
  rawBindAllowsNonlocal: false,
};

const LINE_6_1: Switches = {
  ...LINE_5_10,
  soMarkCmsgAllowsNetRaw: true,
  soPriorityAllowsNetRaw: true,
  timestampingFlagsMask: 0xffff,
  udpMaxSegments: 128,
  pingExtEcho: true,
  subnetZeroIsBroadcast: false,
  gsoSoftwareHasUdpL4: true,
  rawBindAllowsNonlocal: true,
};

const LINE_6_12: Switches = {
  ...LINE_6_1,
  timestampingFlagsMask: 0x3ffff,
  optmemMaxDefault: 131072,
  udpGsoNeedsChecksumOffload: false,
  skbSmallHeadCache: true,
  txtimeValidatesClockid: true,
  ipDoFragmentChecksMtu: true,
};

const LINE_6_18: Switches = {
  ...LINE_6_12,
  soPriorityCmsg: true,
  scmTsOptId: true,
  scmDevmemDmabuf: true,
  timestampingTxRecordMask: 0x40303,
  timestampingFlagsMask: 0x7ffff,
  ipcmTosFromSocket: true,
  ipDoFragmentChecksMtu: false,
};

/**
 * Stable backports: [switch, line, first point release of that line known to
 * have it]. Before that point release the line's base value applies. A
 * release between modelled lines (6.5, 6.13) has the change only from the
 * mainline release that introduced it (UPSTREAM).
 */
const BACKPORTS: Array<[keyof Switches, string, number]> = [
  ['udpGsoSizeCheckUsesMin', '6.1', 176],
  ['udpGsoSizeCheckUsesMin', '6.12', 107],
  ['udpGsoSizeCheckUsesMin', '6.18', 0],
  ['connectedIdAddReturn', '6.1', 176],
  ['connectedIdAddReturn', '6.12', 0],
  ['connectedIdAddReturn', '6.18', 0],
  ['srrNeedsCapNetRaw', '6.1', 176],
  ['srrNeedsCapNetRaw', '6.12', 107],
  ['srrNeedsCapNetRaw', '6.18', 44],
  ['rawHdrinclRejectsShortIhl', '6.1', 176],
  ['rawHdrinclRejectsShortIhl', '6.12', 107],
  ['rawHdrinclRejectsShortIhl', '6.18', 44],
];

/**
 * The mainline release that introduced each backported change. For the SRR
 * restriction and the hdrincl ihl check it is not known; 6.18.15 lacks both
 * and stable releases after it have them, so mainline is taken as 6.19.
 */
const UPSTREAM: Partial<Record<keyof Switches, [number, number]>> = {
  udpGsoSizeCheckUsesMin: [6, 14],
  connectedIdAddReturn: [6, 5],
  srrNeedsCapNetRaw: [6, 19],
  rawHdrinclRejectsShortIhl: [6, 19],
};

/**
 * Debian's bullseye/bookworm ABI releases (`6.1.0-44-cloud-amd64`) do not carry
 * the point release; they are taken as the newest point release known here.
 */
const NEWEST_POINT: Record<string, number> = { '5.10': 223, '6.1': 176, '6.12': 107, '6.18': 44 };

export class UnknownKernelError extends Error {
  constructor(release: string, why = 'expected MAJOR.MINOR[.PATCH]..., e.g. 6.12.107 or 6.1.0-44-cloud-amd64') {
    super(`cannot pick a model profile for kernel release ${JSON.stringify(release)}: ${why}`);
    this.name = 'UnknownKernelError';
  }
}

export function parseRelease(release: string): [number, number, number] {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?(.*)$/.exec(release.trim());
  if (!m) throw new UnknownKernelError(release);
  const major = Number(m[1]);
  const minor = Number(m[2]);
  let patch = m[3] === undefined ? 0 : Number(m[3]);
  const line = `${major}.${minor}`;
  // Debian ABI name: "6.1.0-44-cloud-amd64" (patch 0 followed by -ABI-flavour).
  if (patch === 0 && /^-\d+-/.test(m[4] ?? '') && NEWEST_POINT[line] !== undefined) patch = NEWEST_POINT[line]!;
  return [major, minor, patch];
}

function cmp(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}

/** The profile for a kernel release (`uname -r`): the nearest modelled line at or below it. */
export function profileFor(release: string): Profile {
  const version = parseRelease(release);
  const mm: [number, number] = [version[0], version[1]];
  let line: string;
  let base: Switches;
  if (cmp(mm, [6, 18]) >= 0) [line, base] = ['6.18', LINE_6_18];
  else if (cmp(mm, [6, 12]) >= 0) [line, base] = ['6.12', LINE_6_12];
  else if (cmp(mm, [6, 1]) >= 0) [line, base] = ['6.1', LINE_6_1];
  else if (cmp(mm, [5, 10]) >= 0) [line, base] = ['5.10', LINE_5_10];
  else throw new UnknownKernelError(release, 'older than every modelled line (5.10, 6.1, 6.12, 6.18)');

  const switches: Switches = { ...base };
  const exact = `${version[0]}.${version[1]}` === line;
  for (const [name, bpLine, firstPoint] of BACKPORTS) {
    if (bpLine !== line) continue;
    const upstream = UPSTREAM[name];
    const on = exact ? version[2] >= firstPoint : upstream !== undefined && cmp(mm, upstream) >= 0;
    (switches as unknown as Record<string, unknown>)[name] = on;
  }
  return { line, release, version, ...switches };
}

/** The release of the kernel this process runs on. */
export async function runningRelease(): Promise<string> {
  const os = await import('node:os');
  return os.release();
}
