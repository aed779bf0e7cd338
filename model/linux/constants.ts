/**
 * Linux x86_64 UAPI numbers by name: the tables a case's `level`, `name`,
 * `type` and `flags` are resolved against (case-format.md, "Names and
 * values"), and errno names for results.
 *
 * Checked against linux-libc-dev 6.1 (/usr/include/linux/in.h, linux/udp.h,
 * asm-generic/socket.h, asm-generic/errno*.h, linux/net_tstamp.h) and, for
 * names newer than 6.1, the upstream uapi headers (noted "6.x+"). Names that
 * exist only inside the kernel (include/linux/socket.h, include/net/udplite.h)
 * are noted "kernel-internal": a case may still send their numbers.
 */

/** A name → number table. */
export type ConstTable = Readonly<Record<string, number>>;

export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;

export const IPPROTO: ConstTable = {
  IPPROTO_IP: 0,
  IPPROTO_ICMP: 1,
  IPPROTO_IGMP: 2,
  IPPROTO_IPIP: 4,
  IPPROTO_TCP: 6,
  IPPROTO_EGP: 8,
  IPPROTO_PUP: 12,
  IPPROTO_UDP: 17,
  IPPROTO_IDP: 22,
  IPPROTO_TP: 29,
  IPPROTO_DCCP: 33,
  IPPROTO_IPV6: 41,
  IPPROTO_RSVP: 46,
  IPPROTO_GRE: 47,
  IPPROTO_ESP: 50,
  IPPROTO_AH: 51,
  IPPROTO_MTP: 92,
  IPPROTO_BEETPH: 94,
  IPPROTO_ENCAP: 98,
  IPPROTO_PIM: 103,
  IPPROTO_COMP: 108,
  IPPROTO_L2TP: 115,
  IPPROTO_SCTP: 132,
  IPPROTO_UDPLITE: 136,
  IPPROTO_MPLS: 137,
  IPPROTO_ETHERNET: 143,
  IPPROTO_RAW: 255,
};

/**
 * Socket levels (setsockopt `level`, cmsg_level). SOL_IP is IPPROTO_IP and
 * SOL_UDP is IPPROTO_UDP, so the IPPROTO_* spellings C code uses are accepted
 * as aliases. SOL_UDPLITE is kernel-internal (include/linux/socket.h).
 */
export const SOL: ConstTable = {
  SOL_IP: 0,
  SOL_SOCKET: 1,
  SOL_TCP: 6,
  SOL_UDP: 17,
  SOL_IPV6: 41,
  SOL_ICMPV6: 58,
  SOL_UDPLITE: 136,
  SOL_RAW: 255,
  IPPROTO_IP: 0,
  IPPROTO_TCP: 6,
  IPPROTO_UDP: 17,
  IPPROTO_IPV6: 41,
  IPPROTO_UDPLITE: 136,
  IPPROTO_RAW: 255,
};

/** SOL_IP options and cmsg types (linux/in.h). */
export const SOL_IP_NAMES: ConstTable = {
  IP_TOS: 1,
  IP_TTL: 2,
  IP_HDRINCL: 3,
  IP_OPTIONS: 4,
  IP_ROUTER_ALERT: 5,
  IP_RECVOPTS: 6,
  IP_RETOPTS: 7,
  IP_RECVRETOPTS: 7,
  IP_PKTINFO: 8,
  IP_PKTOPTIONS: 9,
  IP_MTU_DISCOVER: 10,
  IP_RECVERR: 11,
  IP_RECVTTL: 12,
  IP_RECVTOS: 13,
  IP_MTU: 14,
  IP_FREEBIND: 15,
  IP_IPSEC_POLICY: 16,
  IP_XFRM_POLICY: 17,
  IP_PASSSEC: 18,
  IP_TRANSPARENT: 19,
  IP_ORIGDSTADDR: 20,
  IP_RECVORIGDSTADDR: 20,
  IP_MINTTL: 21,
  IP_NODEFRAG: 22,
  IP_CHECKSUM: 23,
  IP_BIND_ADDRESS_NO_PORT: 24,
  IP_RECVFRAGSIZE: 25,
  IP_RECVERR_RFC4884: 26,
  IP_MULTICAST_IF: 32,
  IP_MULTICAST_TTL: 33,
  IP_MULTICAST_LOOP: 34,
  IP_ADD_MEMBERSHIP: 35,
  IP_DROP_MEMBERSHIP: 36,
  IP_UNBLOCK_SOURCE: 37,
  IP_BLOCK_SOURCE: 38,
  IP_ADD_SOURCE_MEMBERSHIP: 39,
  IP_DROP_SOURCE_MEMBERSHIP: 40,
  IP_MSFILTER: 41,
  MCAST_JOIN_GROUP: 42,
  MCAST_BLOCK_SOURCE: 43,
  MCAST_UNBLOCK_SOURCE: 44,
  MCAST_LEAVE_GROUP: 45,
  MCAST_JOIN_SOURCE_GROUP: 46,
  MCAST_LEAVE_SOURCE_GROUP: 47,
  MCAST_MSFILTER: 48,
  IP_MULTICAST_ALL: 49,
  IP_UNICAST_IF: 50,
  IP_LOCAL_PORT_RANGE: 51,
  IP_PROTOCOL: 52,
};

/** IP_MTU_DISCOVER values (linux/in.h). */
export const IP_PMTUDISC: ConstTable = {
  IP_PMTUDISC_DONT: 0,
  IP_PMTUDISC_WANT: 1,
  IP_PMTUDISC_DO: 2,
  IP_PMTUDISC_PROBE: 3,
  IP_PMTUDISC_INTERFACE: 4,
  IP_PMTUDISC_OMIT: 5,
};

/** SOL_SOCKET options (asm-generic/socket.h; x86_64 uses the generic numbers). */
export const SOL_SOCKET_NAMES: ConstTable = {
  SO_DEBUG: 1,
  SO_REUSEADDR: 2,
  SO_TYPE: 3,
  SO_ERROR: 4,
  SO_DONTROUTE: 5,
  SO_BROADCAST: 6,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_KEEPALIVE: 9,
  SO_OOBINLINE: 10,
  SO_NO_CHECK: 11,
  SO_PRIORITY: 12,
  SO_LINGER: 13,
  SO_BSDCOMPAT: 14,
  SO_REUSEPORT: 15,
  SO_PASSCRED: 16,
  SO_PEERCRED: 17,
  SO_RCVLOWAT: 18,
  SO_SNDLOWAT: 19,
  SO_RCVTIMEO_OLD: 20,
  SO_RCVTIMEO: 20,
  SO_SNDTIMEO_OLD: 21,
  SO_SNDTIMEO: 21,
  SO_SECURITY_AUTHENTICATION: 22,
  SO_SECURITY_ENCRYPTION_TRANSPORT: 23,
  SO_SECURITY_ENCRYPTION_NETWORK: 24,
  SO_BINDTODEVICE: 25,
  SO_ATTACH_FILTER: 26,
  SO_GET_FILTER: 26,
  SO_DETACH_FILTER: 27,
  SO_DETACH_BPF: 27,
  SO_PEERNAME: 28,
  SO_TIMESTAMP_OLD: 29,
  SO_TIMESTAMP: 29,
  SO_ACCEPTCONN: 30,
  SO_PEERSEC: 31,
  SO_SNDBUFFORCE: 32,
  SO_RCVBUFFORCE: 33,
  SO_PASSSEC: 34,
  SO_TIMESTAMPNS_OLD: 35,
  SO_TIMESTAMPNS: 35,
  SO_MARK: 36,
  SO_TIMESTAMPING_OLD: 37,
  SO_TIMESTAMPING: 37,
  SO_PROTOCOL: 38,
  SO_DOMAIN: 39,
  SO_RXQ_OVFL: 40,
  SO_WIFI_STATUS: 41,
  SO_PEEK_OFF: 42,
  SO_NOFCS: 43,
  SO_LOCK_FILTER: 44,
  SO_SELECT_ERR_QUEUE: 45,
  SO_BUSY_POLL: 46,
  SO_MAX_PACING_RATE: 47,
  SO_BPF_EXTENSIONS: 48,
  SO_INCOMING_CPU: 49,
  SO_ATTACH_BPF: 50,
  SO_ATTACH_REUSEPORT_CBPF: 51,
  SO_ATTACH_REUSEPORT_EBPF: 52,
  SO_CNX_ADVICE: 53,
  SO_MEMINFO: 55,
  SO_INCOMING_NAPI_ID: 56,
  SO_COOKIE: 57,
  SO_PEERGROUPS: 59,
  SO_ZEROCOPY: 60,
  SO_TXTIME: 61,
  SO_BINDTOIFINDEX: 62,
  SO_TIMESTAMP_NEW: 63,
  SO_TIMESTAMPNS_NEW: 64,
  SO_TIMESTAMPING_NEW: 65,
  SO_RCVTIMEO_NEW: 66,
  SO_SNDTIMEO_NEW: 67,
  SO_DETACH_REUSEPORT_BPF: 68,
  SO_PREFER_BUSY_POLL: 69,
  SO_BUSY_POLL_BUDGET: 70,
  SO_NETNS_COOKIE: 71,
  SO_BUF_LOCK: 72,
  SO_RESERVE_MEM: 73,
  SO_TXREHASH: 74,
  SO_RCVMARK: 75,
  SO_PASSPIDFD: 76, // 6.5+
  SO_PEERPIDFD: 77, // 6.5+
  SO_DEVMEM_LINEAR: 78, // 6.12+
  SO_DEVMEM_DMABUF: 79, // 6.12+
  SO_DEVMEM_DONTNEED: 80, // 6.12+
  SO_RCVPRIORITY: 82, // 6.13+
  SO_PASSRIGHTS: 83, // 6.16+
  SO_INQ: 84, // 6.18+
};

/**
 * SOL_SOCKET control message types: the SCM_* names (asm-generic/socket.h,
 * linux/socket.h) on top of the SO_* names (`__sock_cmsg_send` takes SO_MARK,
 * SO_PRIORITY, SO_TIMESTAMPING_OLD/NEW, SCM_TXTIME, SCM_TS_OPT_ID, ...).
 */
export const SOL_SOCKET_CMSG_NAMES: ConstTable = {
  ...SOL_SOCKET_NAMES,
  SCM_RIGHTS: 1,
  SCM_CREDENTIALS: 2,
  SCM_SECURITY: 3,
  SCM_PIDFD: 4, // 6.5+
  SCM_WIFI_STATUS: 41,
  SCM_TIMESTAMP: 29,
  SCM_TIMESTAMPNS: 35,
  SCM_TIMESTAMPING: 37,
  SCM_TIMESTAMPING_OPT_STATS: 54,
  SCM_TIMESTAMPING_PKTINFO: 58,
  SCM_TXTIME: 61,
  SCM_DEVMEM_LINEAR: 78, // 6.12+
  SCM_DEVMEM_DMABUF: 79, // 6.12+
  SCM_TS_OPT_ID: 81, // 6.13+
  SCM_INQ: 84, // 6.18+
};

/** SOL_UDP options and cmsg types (linux/udp.h). */
export const SOL_UDP_NAMES: ConstTable = {
  UDP_CORK: 1,
  UDP_ENCAP: 100,
  UDP_NO_CHECK6_TX: 101,
  UDP_NO_CHECK6_RX: 102,
  UDP_SEGMENT: 103,
  UDP_GRO: 104,
};

/** SOL_UDPLITE: the UDP options (udp_lib_setsockopt) plus the coverage ones (kernel-internal include/net/udplite.h). */
export const SOL_UDPLITE_NAMES: ConstTable = {
  ...SOL_UDP_NAMES,
  UDPLITE_SEND_CSCOV: 10,
  UDPLITE_RECV_CSCOV: 11,
};

/** SOL_RAW (IPPROTO_RAW level) options of IPv4 raw sockets (linux/icmp.h). */
export const SOL_RAW_NAMES: ConstTable = {
  ICMP_FILTER: 1,
};

/**
 * msg_flags (include/linux/socket.h). MSG_PROBE is the kernel's name for
 * glibc's MSG_PROXY. Flags marked kernel-internal are masked off a user's
 * sendmsg by newer kernels (MSG_INTERNAL_SENDMSG_FLAGS); a case may still set them.
 */
export const MSG: ConstTable = {
  MSG_OOB: 0x1,
  MSG_PEEK: 0x2,
  MSG_DONTROUTE: 0x4,
  MSG_TRYHARD: 0x4,
  MSG_CTRUNC: 0x8,
  MSG_PROBE: 0x10,
  MSG_PROXY: 0x10,
  MSG_TRUNC: 0x20,
  MSG_DONTWAIT: 0x40,
  MSG_EOR: 0x80,
  MSG_WAITALL: 0x100,
  MSG_FIN: 0x200,
  MSG_EOF: 0x200,
  MSG_SYN: 0x400,
  MSG_CONFIRM: 0x800,
  MSG_RST: 0x1000,
  MSG_ERRQUEUE: 0x2000,
  MSG_NOSIGNAL: 0x4000,
  MSG_MORE: 0x8000,
  MSG_WAITFORONE: 0x10000,
  MSG_BATCH: 0x40000,
  MSG_NO_SHARED_FRAGS: 0x80000, // kernel-internal
  MSG_SENDPAGE_DECRYPTED: 0x100000, // kernel-internal
  MSG_SOCK_DEVMEM: 0x2000000, // 6.12+
  MSG_ZEROCOPY: 0x4000000,
  MSG_SPLICE_PAGES: 0x8000000, // kernel-internal, 6.5+
  MSG_FASTOPEN: 0x20000000,
  MSG_CMSG_CLOEXEC: 0x40000000,
  MSG_CMSG_COMPAT: 0x80000000, // kernel-internal
};

/** SO_TIMESTAMPING flags (linux/net_tstamp.h). */
export const SOF_TIMESTAMPING: ConstTable = {
  SOF_TIMESTAMPING_TX_HARDWARE: 1 << 0,
  SOF_TIMESTAMPING_TX_SOFTWARE: 1 << 1,
  SOF_TIMESTAMPING_RX_HARDWARE: 1 << 2,
  SOF_TIMESTAMPING_RX_SOFTWARE: 1 << 3,
  SOF_TIMESTAMPING_SOFTWARE: 1 << 4,
  SOF_TIMESTAMPING_SYS_HARDWARE: 1 << 5,
  SOF_TIMESTAMPING_RAW_HARDWARE: 1 << 6,
  SOF_TIMESTAMPING_OPT_ID: 1 << 7,
  SOF_TIMESTAMPING_TX_SCHED: 1 << 8,
  SOF_TIMESTAMPING_TX_ACK: 1 << 9,
  SOF_TIMESTAMPING_OPT_CMSG: 1 << 10,
  SOF_TIMESTAMPING_OPT_TSONLY: 1 << 11,
  SOF_TIMESTAMPING_OPT_STATS: 1 << 12,
  SOF_TIMESTAMPING_OPT_PKTINFO: 1 << 13,
  SOF_TIMESTAMPING_OPT_TX_SWHW: 1 << 14,
  SOF_TIMESTAMPING_BIND_PHC: 1 << 15,
  SOF_TIMESTAMPING_OPT_ID_TCP: 1 << 16, // 6.2+
  SOF_TIMESTAMPING_OPT_RX_FILTER: 1 << 17, // 6.8+
  SOF_TIMESTAMPING_TX_COMPLETION: 1 << 18, // 6.16+
};

/**
 * errno names (asm-generic/errno-base.h, asm-generic/errno.h), the full
 * x86_64 list in number order; aliases after. ENOTSUPP (524) is
 * kernel-internal but known to leak to user space.
 */
export const ERRNO: ConstTable = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, ENXIO: 6, E2BIG: 7, ENOEXEC: 8,
  EBADF: 9, ECHILD: 10, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EFAULT: 14, ENOTBLK: 15,
  EBUSY: 16, EEXIST: 17, EXDEV: 18, ENODEV: 19, ENOTDIR: 20, EISDIR: 21, EINVAL: 22,
  ENFILE: 23, EMFILE: 24, ENOTTY: 25, ETXTBSY: 26, EFBIG: 27, ENOSPC: 28, ESPIPE: 29,
  EROFS: 30, EMLINK: 31, EPIPE: 32, EDOM: 33, ERANGE: 34, EDEADLK: 35,
  ENAMETOOLONG: 36, ENOLCK: 37, ENOSYS: 38, ENOTEMPTY: 39, ELOOP: 40, ENOMSG: 42,
  EIDRM: 43, ECHRNG: 44, EL2NSYNC: 45, EL3HLT: 46, EL3RST: 47, ELNRNG: 48,
  EUNATCH: 49, ENOCSI: 50, EL2HLT: 51, EBADE: 52, EBADR: 53, EXFULL: 54, ENOANO: 55,
  EBADRQC: 56, EBADSLT: 57, EBFONT: 59, ENOSTR: 60, ENODATA: 61, ETIME: 62,
  ENOSR: 63, ENONET: 64, ENOPKG: 65, EREMOTE: 66, ENOLINK: 67, EADV: 68, ESRMNT: 69,
  ECOMM: 70, EPROTO: 71, EMULTIHOP: 72, EDOTDOT: 73, EBADMSG: 74, EOVERFLOW: 75,
  ENOTUNIQ: 76, EBADFD: 77, EREMCHG: 78, ELIBACC: 79, ELIBBAD: 80, ELIBSCN: 81,
  ELIBMAX: 82, ELIBEXEC: 83, EILSEQ: 84, ERESTART: 85, ESTRPIPE: 86, EUSERS: 87,
  ENOTSOCK: 88, EDESTADDRREQ: 89, EMSGSIZE: 90, EPROTOTYPE: 91, ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93, ESOCKTNOSUPPORT: 94, EOPNOTSUPP: 95, EPFNOSUPPORT: 96,
  EAFNOSUPPORT: 97, EADDRINUSE: 98, EADDRNOTAVAIL: 99, ENETDOWN: 100,
  ENETUNREACH: 101, ENETRESET: 102, ECONNABORTED: 103, ECONNRESET: 104,
  ENOBUFS: 105, EISCONN: 106, ENOTCONN: 107, ESHUTDOWN: 108, ETOOMANYREFS: 109,
  ETIMEDOUT: 110, ECONNREFUSED: 111, EHOSTDOWN: 112, EHOSTUNREACH: 113,
  EALREADY: 114, EINPROGRESS: 115, ESTALE: 116, EUCLEAN: 117, ENOTNAM: 118,
  ENAVAIL: 119, EISNAM: 120, EREMOTEIO: 121, EDQUOT: 122, ENOMEDIUM: 123,
  EMEDIUMTYPE: 124, ECANCELED: 125, ENOKEY: 126, EKEYEXPIRED: 127,
  EKEYREVOKED: 128, EKEYREJECTED: 129, EOWNERDEAD: 130, ENOTRECOVERABLE: 131,
  ERFKILL: 132, EHWPOISON: 133,
  ENOTSUPP: 524,
  // aliases: the number maps back to the name above
  EWOULDBLOCK: 11,
  EDEADLOCK: 35,
  ENOTSUP: 95,
};

/** What a table holds, for messages: `unknown ${kind} "X"`. */
export interface NameSpace {
  /** e.g. `SOL_IP option name`, `SOL_SOCKET cmsg type`, `MSG_* flag`. */
  kind: string;
  table: ConstTable;
}

/** Setsockopt option names per level number. */
const OPTION_TABLES: ReadonlyMap<number, NameSpace> = new Map([
  [0, { kind: 'SOL_IP option name', table: SOL_IP_NAMES }],
  [1, { kind: 'SOL_SOCKET option name', table: SOL_SOCKET_NAMES }],
  [17, { kind: 'SOL_UDP option name', table: SOL_UDP_NAMES }],
  [136, { kind: 'SOL_UDPLITE option name', table: SOL_UDPLITE_NAMES }],
  [255, { kind: 'SOL_RAW option name', table: SOL_RAW_NAMES }],
]);

/** Control message types per level number. */
const CMSG_TABLES: ReadonlyMap<number, NameSpace> = new Map([
  [0, { kind: 'SOL_IP cmsg type', table: SOL_IP_NAMES }],
  [1, { kind: 'SOL_SOCKET cmsg type', table: SOL_SOCKET_CMSG_NAMES }],
  [17, { kind: 'SOL_UDP cmsg type', table: SOL_UDP_NAMES }],
  [136, { kind: 'SOL_UDPLITE cmsg type', table: SOL_UDPLITE_NAMES }],
  [255, { kind: 'SOL_RAW cmsg type', table: SOL_RAW_NAMES }],
]);

export const LEVELS: NameSpace = { kind: 'level', table: SOL };
export const MSG_FLAGS: NameSpace = { kind: 'MSG_* flag', table: MSG };
export const ERRNOS: NameSpace = { kind: 'errno name', table: ERRNO };

/** A name that is not in its table; `message` reads `unknown SOL_IP option name "IP_TLL" (did you mean IP_TTL?)`. */
export class UnknownNameError extends Error {
  constructor(
    readonly kind: string,
    readonly input: string,
    readonly suggestion: string | null,
    detail?: string,
  ) {
    super(
      `unknown ${kind} ${JSON.stringify(input)}` +
        (suggestion !== null ? ` (did you mean ${suggestion}?)` : '') +
        (detail !== undefined ? ` (${detail})` : ''),
    );
    this.name = 'UnknownNameError';
  }
}

/** Edit distance with adjacent transpositions (optimal string alignment); only for suggestions. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      let v = Math.min(at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1), at(i - 1, j) + 1, at(i, j - 1) + 1);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      d[i]![j] = v;
    }
  }
  return at(a.length, b.length);
}

/**
 * The closest name in `table` to `input` (case-insensitive), if it is close
 * enough to be a typo: at most 2 edits, or 3 for names of 10+ characters.
 */
export function suggestName(input: string, table: ConstTable): string | null {
  const up = input.toUpperCase();
  let best: string | null = null;
  let bestD = Infinity;
  for (const name of Object.keys(table)) {
    // ties go to the name closest in length (MSG_MOER: MSG_MORE, not MSG_EOR)
    const d = editDistance(up, name) + Math.abs(up.length - name.length) / 100;
    if (d < bestD) {
      best = name;
      bestD = d;
    }
  }
  const limit = up.length >= 10 ? 3 : 2;
  return Math.floor(bestD) <= limit ? best : null;
}

/** Resolves a name (exact spelling) in a name space, or throws UnknownNameError. */
export function lookupName(ns: NameSpace, input: string): number {
  const n = Object.prototype.hasOwnProperty.call(ns.table, input) ? ns.table[input] : undefined;
  if (n === undefined) throw new UnknownNameError(ns.kind, input, suggestName(input, ns.table));
  return n;
}

/** The first name (in table order) with this number, or null. */
export function nameOf(table: ConstTable, n: number): string | null {
  for (const [name, v] of Object.entries(table)) if (v === n) return name;
  return null;
}

/** A case's ConstName: a name, or a plain number passed through as is. */
export type NameOrNumber = string | number;

/** Resolves a socket level (`SOL_IP`, `IPPROTO_UDP`, or a number). */
export function resolveLevel(level: NameOrNumber): number {
  return typeof level === 'number' ? level : lookupName(LEVELS, level);
}

function tableFor(tables: ReadonlyMap<number, NameSpace>, level: number, what: string): NameSpace {
  const ns = tables.get(level);
  if (ns === undefined) {
    const known = [...tables.keys()].map((l) => nameOf(SOL, l)).join(', ');
    throw new Error(`level ${level} has no ${what} names (known: ${known}); write the ${what} as a number`);
  }
  return ns;
}

/** The setsockopt option names of a level, or throws for a level without names. */
export function optionNames(level: number): NameSpace {
  return tableFor(OPTION_TABLES, level, 'option');
}

/** The control message type names of a level, or throws for a level without names. */
export function cmsgTypeNames(level: number): NameSpace {
  return tableFor(CMSG_TABLES, level, 'cmsg type');
}

/** Resolves a setsockopt option name at a level (numbers pass through). */
export function resolveOption(level: NameOrNumber, name: NameOrNumber): number {
  if (typeof name === 'number') return name;
  return lookupName(optionNames(resolveLevel(level)), name);
}

/** Resolves a control message type at a level (numbers pass through). */
export function resolveCmsgType(level: NameOrNumber, type: NameOrNumber): number {
  if (typeof type === 'number') return type;
  return lookupName(cmsgTypeNames(resolveLevel(level)), type);
}

/** Resolves one MSG_* flag (numbers pass through). */
export function resolveMsgFlag(flag: NameOrNumber): number {
  return typeof flag === 'number' ? flag : lookupName(MSG_FLAGS, flag);
}

/** ORs a list of MSG_* flags into an unsigned 32-bit msg_flags. */
export function msgFlags(flags: readonly NameOrNumber[]): number {
  let f = 0;
  for (const x of flags) f = (f | resolveMsgFlag(x)) >>> 0;
  return f;
}

/** The errno number of a name (`EINVAL` → 22; aliases accepted), or throws. */
export function errnoNumber(name: string): number {
  return lookupName(ERRNOS, name);
}

/** The canonical errno name of a number (11 → `EAGAIN`), as strerrorname_np gives it, or null. */
export function errnoName(n: number): string | null {
  return nameOf(ERRNO, n);
}
