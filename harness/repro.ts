/**
 * A standalone reproducer for a kernel bug report: one C file, libc only,
 * no skbdiff code, that builds the lab of case-format.md in a network
 * namespace of its own (`unshare(CLONE_NEWNET)`, then ip(8) and ethtool(8)),
 * captures on `rx` with an AF_PACKET socket, makes exactly the case's calls
 * with the same bytes (control buffers as model/lower.ts lays them out),
 * prints every call's outcome and every captured IPv4 packet in hex, and
 * compares them with the model's expected result embedded in the file. The
 * fields judged by rule (case-format.md, "Comparing") are judged by rule:
 * the IPv4 ID (zero / exact / one base per group), the header checksum
 * (must verify), IP timestamp times (within 10 s of now). A port the kernel
 * picks (an unbound socket's source port, a ping socket's echo id) is read
 * with getsockname and written into the expected bytes, the transport
 * checksum adjusted (RFC 1624), as the harness hands it to the model.
 *
 * Exit status: 0 everything as expected, 1 a difference, 2 the lab could
 * not be built.
 *
 * Intended CLI (wired in harness/cli.ts):
 *
 *   skbdiff repro CASES.jsonl --id gen-7-123 [--kernel-profile 6.1] [--results results/<run>/results.json] > repro.c
 *   gcc -static -O2 -Wall -o repro repro.c && sudo ./repro
 */
import type { Case } from '../model/case.js';
import { CMSG_SPACE, layoutControl } from '../model/cmsg-layout.js';
import { cmsgTypeNames, ERRNO, resolveCmsgType, resolveLevel } from '../model/linux/constants.js';
import { lower, valueBytes } from '../model/lower.js';
import type { CallResult, ExpectedResult, ObservedResult } from '../model/result.js';
import { ip4ToString } from '../model/program.js';
import { diffCase } from './diff.js';
import { renderFinding } from './render.js';

export interface ReproMeta {
  /** The kernel release the difference was observed on. */
  release?: string;
  /** Capture time of the observation (for rendering its findings). */
  captureMsOfDay?: number | null;
}

/** The cmsg type names of a level (none for a level without a table). */
function namesAt(level: number): Record<string, number> {
  try {
    return { ...cmsgTypeNames(level).table };
  } catch {
    return {};
  }
}

const cstr = (s: string): string => JSON.stringify(s).replace(/\?\?/g, '?\\?');
/** Text for a C block comment. */
const ccom = (s: string): string => s.replace(/\*\//g, '* /');

function fromHex(h: string): Uint8Array {
  return Uint8Array.from(Buffer.from(h, 'hex'));
}

/** A C initializer for bytes, 16 per line. */
function bytesInit(b: Uint8Array, indent = '\t'): string {
  if (b.length === 0) return '';
  const lines: string[] = [];
  for (let i = 0; i < b.length; i += 16) {
    lines.push(indent + [...b.subarray(i, i + 16)].map((x) => `0x${x.toString(16).padStart(2, '0')}`).join(', ') + ',');
  }
  return lines.join('\n');
}

function errnoNumber(name: string): number {
  const n = ERRNO[name];
  if (n === undefined) throw new Error(`unknown errno name ${name}`);
  return n;
}

/** `{ is_errno, value, "name" }` */
function want(r: CallResult): string {
  return 'errno' in r ? `{ 1, ${errnoNumber(r.errno)}, ${cstr(r.errno)} }` : `{ 0, ${r.ret}, "" }`;
}

const showCall = (r: CallResult): string => ('errno' in r ? `errno ${r.errno}${r.from ? ` (${r.from})` : ''}` : `ret ${r.ret}`);

/** One's-complement sum of 16-bit big-endian words. */
function csumAdd(b: Uint8Array, start: number, end: number, sum = 0): number {
  for (let i = start; i < end; i += 2) sum += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  return sum;
}
const fold = (s: number): number => {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
};

/**
 * Where the kernel-picked port sits in an expected packet, and whether its
 * transport checksum covers it (so the reproducer must adjust it): UDP and
 * UDP-Lite source port, a ping echo id; first fragments only. A checksum
 * covers the port when it is full (verifies) or the datagram is fragmented
 * (fragments are always checksummed in software); a partial (offload) one
 * does not.
 */
function portPatch(c: Case, p: Uint8Array): { portAt: number; csumAt: number } {
  const none = { portAt: -1, csumAt: -1 };
  if (p.length < 20) return none;
  const ihl = (p[0]! & 15) * 4;
  const frag = ((p[6]! << 8) | p[7]!) & 0x1fff;
  const mf = (p[6]! & 0x20) !== 0;
  if (frag !== 0) return none;
  const proto = p[9]!;
  if (c.socket.type === 'dgram' && c.socket.protocol === 'icmp' && proto === 1 && p.length >= ihl + 8 && p[ihl] === 8) return { portAt: ihl + 4, csumAt: ihl + 2 };
  if (c.socket.type === 'dgram' && (proto === 17 || proto === 136) && p.length >= ihl + 8) {
    const csum = (p[ihl + 6]! << 8) | p[ihl + 7]!;
    if (csum === 0) return { portAt: ihl, csumAt: -1 };
    if (mf) return { portAt: ihl, csumAt: ihl + 6 };
    const total = p.length - ihl;
    const lenField = (p[ihl + 4]! << 8) | p[ihl + 5]!;
    const cov = proto === 136 ? (lenField === 0 ? total : Math.min(lenField, total)) : total;
    let s = csumAdd(p, 12, 20) + proto + total;
    s = csumAdd(p, ihl, ihl + cov, s);
    return { portAt: ihl, csumAt: fold(s) === 0xffff ? ihl + 6 : -1 };
  }
  return none;
}

/**
 * The reproducer's C source for case `c`, judged against `expected` (the
 * model's prediction, as `skbdiff predict` or a run's results.json hold it);
 * `observed`, when given, is quoted in the header with the finding lines.
 */
export function reproducer(c: Case, expected: ExpectedResult, observed?: ObservedResult, meta: ReproMeta = {}): string {
  const p = lower(c);
  const out: string[] = [];
  const w = (s = ''): void => void out.push(s);
  const portPicked = c.socket.type === 'dgram' && (c.socket.bind === null || c.socket.bind.port === 0);
  const txIndex = expected.inputs?.tx_ifindex !== undefined && expected.inputs.tx_ifindex > 1 ? expected.inputs.tx_ifindex : 2;

  // ---- header comment ----
  w('/*');
  w(` * skbdiff reproducer for case ${ccom(c.id)}`);
  if (c.about) w(` *   ${ccom(c.about)}`);
  w(` * Kernel observed: ${ccom(meta.release ?? 'not given')}`);
  if (observed) {
    const findings = diffCase(expected, observed, { captureMsOfDay: meta.captureMsOfDay ?? null });
    w(` * Findings (model's expectation vs. that kernel), ${findings.length}:`);
    for (const f of findings.slice(0, 40)) w(` *   ${ccom(renderFinding(f))}`);
    if (findings.length > 40) w(` *   ... ${findings.length - 40} more`);
  }
  w(' *');
  w(' * What it does: creates its own network namespace (unshare CLONE_NEWNET),');
  w(' * builds the lab of skbdiff case-format.md in it (veth tx/rx, 198.18.0.1/24');
  w(' * on tx, NOARP, the peer 198.18.0.2 as a permanent neighbour, MTU, route');
  w(' * MTU lock, offloads, sysctls), captures on rx, makes the calls below and');
  w(' * compares outcomes and packets with the expected ones. Nothing leaves');
  w(' * the namespace; it disappears when the program exits.');
  w(' *');
  w(' * Judged by rule, not byte for byte: the IPv4 ID (zero, exact, or one');
  w(' * base per group: fragments share it, counting datagrams add one), the');
  w(' * IPv4 header checksum (must verify), IP timestamp times (within 10 s).');
  if (portPicked) w(' * The source port / echo id the kernel picks is read with getsockname and written into the expected bytes (checksum adjusted).');
  w(' *');
  w(' * Build: gcc -static -O2 -Wall -o repro repro.c');
  w(' * Run:   sudo ./repro        (needs root, ip(8) and ethtool(8))');
  w(' * Exit:  0 as expected, 1 a difference, 2 the lab could not be built.');
  w(' */');
  w('#define _GNU_SOURCE');
  for (const h of ['arpa/inet.h', 'errno.h', 'linux/capability.h', 'linux/if_packet.h', 'sys/syscall.h', 'net/ethernet.h', 'net/if.h', 'netinet/in.h', 'poll.h', 'sched.h', 'stdint.h', 'stdio.h', 'stdlib.h', 'string.h', 'sys/socket.h', 'sys/time.h', 'sys/uio.h', 'unistd.h']) w(`#include <${h}>`);
  w();
  w('struct want { int is_errno; long value; const char *name; };');
  w('static int differ;');
  w();
  w(`static void sh(const char *cmd, int must)
{
	printf("+ %s\\n", cmd);
	fflush(stdout);
	int r = system(cmd);
	if (r != 0 && must) {
		fprintf(stderr, "lab setup failed: %s\\n", cmd);
		exit(2);
	}
}

static void sysctl_write(const char *name, const char *val)
{
	char path[256];
	snprintf(path, sizeof(path), "/proc/sys/%s", name);
	for (char *q = path + 10; *q; q++)
		if (*q == '.')
			*q = '/';
	printf("+ sysctl %s=%s\\n", name, val);
	FILE *f = fopen(path, "w");
	if (!f || fputs(val, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

/* Prints a call's outcome and compares it with the expected one. */
static void check(const char *what, long ret, int err, struct want w)
{
	if (ret < 0)
		printf("%s: errno %d (%s)", what, err, strerror(err));
	else
		printf("%s: ret %ld", what, ret);
	int ok = w.is_errno ? (ret < 0 && err == w.value) : (ret == w.value);
	if (w.is_errno)
		printf("  expected errno %s (%ld)", w.name, w.value);
	else
		printf("  expected ret %ld", w.value);
	printf("  %s\\n", ok ? "ok" : "DIFFERENT");
	if (!ok)
		differ = 1;
}

static void hexdump(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%s%02x%s", i % 16 == 0 ? "  " : "", b[i], i % 16 == 15 || i + 1 == n ? "\\n" : " ");
}

static unsigned csum16(const uint8_t *b, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (unsigned)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		s += (unsigned)b[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s;
}

/* An expected packet; id_rule: 0 zero, 1 exact, 2 sequence (base per group, + plus). */
struct exp_packet {
	const uint8_t *b;
	size_t len;
	int id_rule, id_group, id_plus;
	int port_at, csum_at;
	const int *ts;
	int nts;
};`);
  w();

  // ---- expected packets ----
  const pkts = expected.packets;
  pkts.forEach((pk, i) => {
    const b = fromHex(pk.hex);
    w(`/* expected packet ${i}: ${b.length} bytes */`);
    w(`static uint8_t exp${i}[] = {\n${bytesInit(b)}\n};`);
    const ts = pk.rules['ip.options.ts.time'] ?? [];
    if (ts.length) w(`static const int exp${i}_ts[] = { ${ts.join(', ')} };`);
  });
  w(`static struct exp_packet expected_packets[] = {`);
  pkts.forEach((pk, i) => {
    const b = fromHex(pk.hex);
    const id = pk.rules['ip.id'];
    const [rule, group, plus] = id.rule === 'zero' ? [0, 0, 0] : id.rule === 'exact' ? [1, 0, 0] : [2, id.group, id.plus];
    const pp = portPicked ? portPatch(c, b) : { portAt: -1, csumAt: -1 };
    const ts = pk.rules['ip.options.ts.time'] ?? [];
    w(`\t{ exp${i}, sizeof(exp${i}), ${rule}, ${group}, ${plus}, ${pp.portAt}, ${pp.csumAt}, ${ts.length ? `exp${i}_ts` : 'NULL'}, ${ts.length} }, /* id ${id.rule}${id.rule === 'sequence' ? ` group ${group} +${plus}` : ''} */`);
  });
  if (!pkts.length) w('\t{ NULL, 0, 0, 0, 0, -1, -1, NULL, 0 }, /* none expected (placeholder) */');
  w('};');
  w(`#define N_EXPECTED ${pkts.length}`);
  w();

  // ---- call data ----
  // Every setsockopt call of the case in the order made: the socket's, then each send's own
  // (case format extension), numbered as the result numbers them.
  const calls = [
    ...p.setsockopt.map((o, i) => ({ o, s: c.socket.setsockopt[i]!, before: null as number | null })),
    ...p.sends.flatMap((snd, k) => snd.setsockoptBefore.map((o, j) => ({ o, s: c.sends[k]!.setsockopt![j]!, before: k }))),
  ];
  calls.forEach(({ o, s, before }, i) => {
    w(`/* setsockopt ${i}${before === null ? '' : ` (before send ${before})`}: ${String(s.level)} ${String(s.name)} = ${JSON.stringify(s.value)} */`);
    w(`static uint8_t opt${i}[${Math.max(1, o.value.length)}] __attribute__((unused)) = {\n${bytesInit(o.value)}\n};`);
  });
  const callAt = (before: number | null): Array<{ i: number; o: (typeof calls)[number]['o']; s: (typeof calls)[number]['s'] }> =>
    calls.map((x, i) => ({ ...x, i })).filter((x) => x.before === before);
  const emitCalls = (before: number | null, indent: string): void => {
    for (const { i, o, s } of callAt(before)) {
      w(`${indent}r = setsockopt(fd, ${o.level}, ${o.name}, opt${i}, ${o.value.length}); /* ${String(s.level)} ${String(s.name)} */`);
      w(`${indent}check("setsockopt ${i} ${String(s.name)}", r, errno, want_setsockopt${i});`);
    }
  };
  p.sends.forEach((s, i) => {
    const spec = c.sends[i]!;
    if ('hex' in spec.payload) w(`static uint8_t payload${i}[${Math.max(1, s.payload.length)}] __attribute__((unused)) = {\n${bytesInit(s.payload)}\n};`);
    else w(`static uint8_t payload${i}[${Math.max(1, s.payload.length)}] __attribute__((unused)); /* ${s.payload.length} bytes, byte i = i & 0xff (filled in main) */`);
    if (spec.control) {
      w(`/* send ${i} control buffer: the case's own ${s.control.length} bytes, as given */`);
      w(`static uint8_t control${i}[${Math.max(1, s.control.length)}] __attribute__((aligned(8), unused)) = {\n${bytesInit(s.control)}\n};`);
    } else if (spec.cmsgs.length) {
      const layout = layoutControl(
        spec.cmsgs.map((m) => {
          const v = valueBytes(m.value);
          return { level: resolveLevel(m.level), type: resolveCmsgType(m.level, m.type), data: v.bytes, txIfindexAt: v.txIfindexAt, ...(m.cmsg_len !== undefined ? { cmsgLen: m.cmsg_len } : {}) };
        }),
      );
      if (Buffer.compare(Buffer.from(layout.control), Buffer.from(s.control)) !== 0) throw new Error('reproducer: control layout differs from model/lower.ts');
      w(`/* send ${i} control buffer, ${s.control.length} bytes (struct cmsghdr: 8-byte cmsg_len, int level, int type; data; padding to 8) */`);
      w(`static uint8_t control${i}[${s.control.length}] __attribute__((aligned(8), unused)) = {`);
      spec.cmsgs.forEach((m, j) => {
        const at = layout.headerAt[j]!;
        const v = valueBytes(m.value);
        const lvl = resolveLevel(m.level);
        const typeName = typeof m.type === 'string' ? m.type : (Object.entries(namesAt(lvl)).find(([, n]) => n === m.type)?.[0] ?? String(m.type));
        w(`\t/* cmsg ${j} at ${at}: ${String(m.level)} (${lvl}) ${typeName} (${resolveCmsgType(m.level, m.type)}), ${JSON.stringify(m.value)}${m.cmsg_len !== undefined ? `, cmsg_len forced to ${m.cmsg_len}` : ''} */`);
        w(bytesInit(s.control.subarray(at, at + CMSG_SPACE(v.bytes.length))));
      });
      w('};');
    }
  });
  w();

  // ---- expected outcomes ----
  if (expected.socket) w(`static const struct want want_socket = ${want(expected.socket)};`);
  expected.setsockopt.forEach((r, i) => w(`static const struct want want_setsockopt${i} = ${want(r)}; /* ${ccom(showCall(r))} */`));
  if (expected.bind) w(`static const struct want want_bind = ${want(expected.bind)}; /* ${ccom(showCall(expected.bind))} */`);
  if (expected.connect) w(`static const struct want want_connect = ${want(expected.connect)}; /* ${ccom(showCall(expected.connect))} */`);
  expected.sends.forEach((r, i) => w(`static const struct want want_send${i} = ${want(r)}; /* ${ccom(showCall(r))} */`));
  w();

  // ---- main ----
  w('int main(void)');
  w('{');
  w('\tsetvbuf(stdout, NULL, _IOLBF, 0);');
  w('\tif (unshare(CLONE_NEWNET) < 0) {');
  w('\t\tperror("unshare(CLONE_NEWNET) (run as root)");');
  w('\t\treturn 2;');
  w('\t}');
  w('\t/* the lab (case-format.md "The network"); IPv6 off so that only the case sends */');
  w('\tsysctl_write("net.ipv6.conf.all.disable_ipv6", "1");');
  w('\tsysctl_write("net.ipv6.conf.default.disable_ipv6", "1");');
  w('\tsh("ip link set lo up", 1);');
  w(`\tsh("ip link add name tx index ${txIndex} address 02:53:4b:42:00:01 type veth peer name rx index ${txIndex + 1} address 02:53:4b:42:00:02", 1);`);
  w('\tsh("ethtool -K rx gro off", 1);');
  w('\tsh("ethtool -K rx rx-gro-list off rx-udp-gro-forwarding off 2>/dev/null", 0);');
  w('\tsh("ip link set dev rx mtu 65535 up", 1);');
  const onoff = (b: boolean): string => (b ? 'on' : 'off');
  w(`\tsh("ethtool -K tx tx ${onoff(c.net.offload.tx_checksum)}", 1);`);
  w(`\tsh("ethtool -K tx gso ${onoff(c.net.offload.gso)} tso ${onoff(c.net.offload.gso)}", ${c.net.offload.gso ? 0 : 1});`);
  w(`\tsh("ethtool -K tx tx-udp-segmentation ${onoff(c.net.offload.gso)} tx-gso-list ${onoff(c.net.offload.gso)} 2>/dev/null", 0);`);
  w(`\tsh("ip link set dev tx mtu ${c.net.mtu} arp off up", 1);`);
  w('\tsh("ip addr add 198.18.0.1/24 dev tx noprefixroute", 1);');
  w(`\tsh("ip route add 198.18.0.0/24 dev tx scope link src 198.18.0.1${c.net.route_mtu !== null ? ` mtu lock ${c.net.route_mtu}` : ''}", 1);`);
  w('\tsh("ip neigh replace 198.18.0.2 lladdr 02:53:4b:42:00:02 nud permanent dev tx", 1);');
  for (const [k, v] of Object.entries(c.net.sysctl)) w(`\tsysctl_write(${cstr(k)}, ${cstr(String(v))});`);
  w('\tint txidx = (int)if_nametoindex("tx"), rxidx = (int)if_nametoindex("rx");');
  w(`\tif (txidx != ${txIndex})`);
  w(`\t\tprintf("note: tx has ifindex %d, the expectation assumed ${txIndex}\\n", txidx);`);
  w('\tint cap = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));');
  w('\tstruct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = rxidx };');
  w('\tif (cap < 0 || bind(cap, (struct sockaddr *)&sll, sizeof(sll)) < 0) {');
  w('\t\tperror("capture socket on rx");');
  w('\t\treturn 2;');
  w('\t}');
  w();
  const caps = p.socket.caps;
  if (caps) {
    // socket.caps (case format extension): the network capabilities not listed are
    // dropped from the effective set for the case's calls, kept permitted, restored after.
    const drop = [10, 12, 13].filter((n) => !caps.includes(n));
    w(`\t/* socket.caps ${JSON.stringify(c.socket.caps)}: drop ${drop.map((n) => ({ 10: 'CAP_NET_BIND_SERVICE', 12: 'CAP_NET_ADMIN', 13: 'CAP_NET_RAW' })[n as 10 | 12 | 13]).join(', ') || 'nothing'} from the effective set for the calls */`);
    w('	struct __user_cap_header_struct caph = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };');
    w('	struct __user_cap_data_struct capd[2], capsaved[2];');
    w('	if (syscall(SYS_capget, &caph, capd) < 0) { perror("capget"); return 2; }');
    w('	memcpy(capsaved, capd, sizeof(capd));');
    w(`	capd[0].effective &= ~0x${drop.reduce((m, n) => m | (1 << n), 0).toString(16)}u;`);
    w('	if (syscall(SYS_capset, &caph, capd) < 0) { perror("capset"); return 2; }');
  }
  w('	/* the calls: socket, setsockopt..., bind, connect, sends (case-format.md "The socket") */');
  w(`	int fd = socket(${p.socket.domain}, ${p.socket.type}, ${p.socket.protocol}); /* AF_INET, ${c.socket.type === 'raw' ? 'SOCK_RAW' : 'SOCK_DGRAM'}, ${c.socket.protocol} */`);
  if (expected.socket) {
    w('\tcheck("socket", fd < 0 ? -1 : 0, errno, want_socket);');
    w('\tif (fd >= 0)');
    w('\t\tprintf("(the socket was expected to fail; the calls after it are not made)\\n");');
  } else {
    w('\tif (fd < 0) {');
    w('\t\tprintf("socket: errno %d (%s)  expected success  DIFFERENT\\n", errno, strerror(errno));');
    w('\t\tdiffer = 1;');
    w('\t} else {');
    w('\t\tlong r;');
    w('\t\tstruct sockaddr_in sin;');
    w('\t\t(void)sin;');
    emitCalls(null, '\t\t');
    const sa = (e: { addr: number; port: number }): void => {
      w(`\t\tmemset(&sin, 0, sizeof(sin));`);
      w(`\t\tsin.sin_family = AF_INET;`);
      w(`\t\tsin.sin_port = htons(${e.port});`);
      w(`\t\tsin.sin_addr.s_addr = htonl(0x${e.addr.toString(16).padStart(8, '0')}); /* ${ip4ToString(e.addr)} */`);
    };
    if (p.bind) {
      sa(p.bind);
      w('\t\tr = bind(fd, (struct sockaddr *)&sin, sizeof(sin));');
      w('\t\tcheck("bind", r, errno, want_bind);');
    }
    if (p.connect) {
      sa(p.connect);
      w('\t\tr = connect(fd, (struct sockaddr *)&sin, sizeof(sin));');
      w('\t\tcheck("connect", r, errno, want_connect);');
    }
    p.sends.forEach((s, i) => {
      const spec = c.sends[i]!;
      w(`\t\t/* send ${i}: ${s.payload.length} bytes${spec.to ? ` to ${spec.to.addr}:${spec.to.port}` : ''}, iov ${JSON.stringify(s.iov)}, flags ${JSON.stringify(spec.flags)} (0x${s.flags.toString(16)}) */`);
      w('\t\t{');
      emitCalls(i, '\t\t\t');
      if ('length' in spec.payload) w(`\t\t\tfor (int i = 0; i < ${s.payload.length}; i++)\n\t\t\t\tpayload${i}[i] = (uint8_t)(i & 0xff);`);
      let off = 0;
      w(`\t\t\tstruct iovec iov[${Math.max(1, s.iov.length)}] = {`);
      for (const l of s.iov) {
        w(`\t\t\t\t{ payload${i} + ${off}, ${l} },`);
        off += l;
      }
      w('\t\t\t};');
      w(`\t\t\tstruct msghdr m = { .msg_iov = iov, .msg_iovlen = ${s.iov.length} };`);
      if (s.to) {
        sa(s.to);
        w('\t\t\tm.msg_name = &sin;');
        w('\t\t\tm.msg_namelen = sizeof(sin);');
      }
      if (s.control.length) {
        for (const at of s.txIfindexAt) w(`\t\t\tmemcpy(control${i} + ${at}, &txidx, 4); /* in_pktinfo.ipi_ifindex = tx */`);
        w(`\t\t\tm.msg_control = control${i};`);
        w(`\t\t\tm.msg_controllen = ${s.control.length};`);
      }
      w(`\t\t\tr = sendmsg(fd, &m, 0x${s.flags.toString(16)});`);
      w(`\t\t\tcheck("send ${i}", r, errno, want_send${i});`);
      w('\t\t}');
    });
    w('\t}');
  }
  w();
  if (caps) w('\tif (syscall(SYS_capset, &caph, capsaved) < 0) { perror("capset (restore)"); return 2; }');
  w('\t/* the port the kernel picked (the UDP source port, the ping echo id) */');
  w('\tstruct sockaddr_in me;');
  w('\tsocklen_t melen = sizeof(me);');
  w('\tint port = -1;');
  w('\tif (fd >= 0 && getsockname(fd, (struct sockaddr *)&me, &melen) == 0)');
  w('\t\tport = ntohs(me.sin_port);');
  w();
  w('\t/* capture until rx has been quiet for 300 ms; then close (a pending cork is dropped) */');
  w('\tstatic uint8_t got[70][65536 + 64];');
  w('\tstatic size_t gotlen[70];');
  w('\tint ngot = 0, extra = 0;');
  w('\tstruct pollfd pfd = { .fd = cap, .events = POLLIN };');
  w('\tstatic uint8_t frame[65536 + 64];');
  w('\twhile (poll(&pfd, 1, 300) > 0) {');
  w('\t\tstruct sockaddr_ll from;');
  w('\t\tsocklen_t fl = sizeof(from);');
  w('\t\tssize_t n = recvfrom(cap, frame, sizeof(frame), 0, (struct sockaddr *)&from, &fl);');
  w('\t\tif (n < 14 || from.sll_pkttype == PACKET_OUTGOING || frame[12] != 0x08 || frame[13] != 0x00)');
  w('\t\t\tcontinue;');
  w('\t\tif (ngot < 70) {');
  w('\t\t\tmemcpy(got[ngot], frame + 14, (size_t)n - 14);');
  w('\t\t\tgotlen[ngot++] = (size_t)n - 14;');
  w('\t\t} else');
  w('\t\t\textra++;');
  w('\t}');
  w('\tif (fd >= 0)');
  w('\t\tclose(fd);');
  w();
  w(`\tstruct timeval tv;
	gettimeofday(&tv, NULL);
	long now_ms = (long)(tv.tv_sec % 86400) * 1000 + tv.tv_usec / 1000;
	int nexp = N_EXPECTED;
	printf("packets: %d captured%s, %d expected\\n", ngot + extra, extra ? " (only the first 70 compared)" : "", nexp);
	if (ngot + extra != nexp)
		differ = 1;
	long base[1024];
	int have_base[1024] = { 0 };
	for (int i = 0; i < ngot || i < nexp; i++) {
		if (i < ngot) {
			printf("packet %d: %zu bytes\\n", i, gotlen[i]);
			hexdump(got[i], gotlen[i]);
		}
		if (i >= nexp) {
			printf("packet %d: not expected  DIFFERENT\\n", i);
			continue;
		}
		struct exp_packet *e = &expected_packets[i];
		if (e->port_at >= 0 && port >= 0) {
			/* the kernel's port into the expected bytes; checksum adjusted (RFC 1624: HC' = ~(~HC + ~m + m')) */
			unsigned old = (unsigned)(e->b[e->port_at] << 8 | e->b[e->port_at + 1]);
			((uint8_t *)e->b)[e->port_at] = (uint8_t)(port >> 8);
			((uint8_t *)e->b)[e->port_at + 1] = (uint8_t)port;
			if (e->csum_at >= 0) {
				unsigned hc = (unsigned)(e->b[e->csum_at] << 8 | e->b[e->csum_at + 1]);
				uint32_t s = (~hc & 0xffff) + (~old & 0xffff) + (unsigned)port;
				while (s >> 16)
					s = (s & 0xffff) + (s >> 16);
				unsigned nc = ~s & 0xffff;
				if (nc == 0 && e->b[9] != 1)
					nc = 0xffff;
				((uint8_t *)e->b)[e->csum_at] = (uint8_t)(nc >> 8);
				((uint8_t *)e->b)[e->csum_at + 1] = (uint8_t)nc;
			}
		}
		if (i >= ngot) {
			printf("packet %d: missing (expected %zu bytes)  DIFFERENT\\n", i, e->len);
			hexdump(e->b, e->len);
			continue;
		}
		const uint8_t *g = got[i];
		int bad = 0;
		if (gotlen[i] != e->len) {
			printf("  length: expected %zu, got %zu\\n", e->len, gotlen[i]);
			bad = 1;
		}
		static int judged[65536 + 64];
		memset(judged, 0, sizeof(int) * (e->len > gotlen[i] ? e->len : gotlen[i]));
		judged[4] = judged[5] = judged[10] = judged[11] = 1;
		for (int k = 0; k < e->nts; k++)
			for (int q = 0; q < 4; q++)
				judged[e->ts[k] + q] = 1;
		int first = -1, count = 0;
		for (size_t k = 0; k < e->len && k < gotlen[i]; k++)
			if (!judged[k] && e->b[k] != g[k]) {
				if (first < 0)
					first = (int)k;
				count++;
			}
		if (first >= 0) {
			printf("  bytes: %d differ, first at offset %d (expected 0x%02x, got 0x%02x)\\n", count, first, e->b[first], g[first]);
			bad = 1;
		}
		if (gotlen[i] >= 20) {
			size_t ihl = (size_t)(g[0] & 15) * 4;
			if (ihl < 20 || ihl > gotlen[i] || csum16(g, ihl) != 0xffff) {
				printf("  header checksum: does not verify\\n");
				bad = 1;
			}
			long id = g[4] << 8 | g[5];
			if (e->id_rule == 0 && id != 0) {
				printf("  ip id: expected 0, got 0x%04lx\\n", id);
				bad = 1;
			} else if (e->id_rule == 1 && id != (e->b[4] << 8 | e->b[5])) {
				printf("  ip id: expected 0x%02x%02x, got 0x%04lx\\n", e->b[4], e->b[5], id);
				bad = 1;
			} else if (e->id_rule == 2) {
				long b = (id - e->id_plus + 0x10000) & 0xffff;
				if (!have_base[e->id_group & 1023]) {
					have_base[e->id_group & 1023] = 1;
					base[e->id_group & 1023] = b;
				} else if (base[e->id_group & 1023] != b) {
					printf("  ip id: expected 0x%04lx (group %d base + %d), got 0x%04lx\\n", (base[e->id_group & 1023] + e->id_plus) & 0xffff, e->id_group, e->id_plus, id);
					bad = 1;
				}
			}
			for (int k = 0; k < e->nts; k++) {
				int o = e->ts[k];
				if ((size_t)o + 4 > gotlen[i])
					continue;
				long t = (long)((uint32_t)g[o] << 24 | (uint32_t)g[o + 1] << 16 | (uint32_t)g[o + 2] << 8 | g[o + 3]);
				long d = labs(t - now_ms) % 86400000;
				if (d > 86400000 - d)
					d = 86400000 - d;
				if (t >= 86400000 || d > 10000) {
					printf("  ip timestamp at %d: %ld ms is not within 10 s of now (%ld)\\n", o, t, now_ms);
					bad = 1;
				}
			}
		}
		if (bad) {
			printf("packet %d: DIFFERENT; expected (ID, header checksum%s judged by rule):\\n", i, e->nts ? ", timestamps" : "");
			hexdump(e->b, e->len);
			differ = 1;
		} else {
			printf("packet %d: as expected\\n", i);
		}
	}
	printf("%s\\n", differ ? "RESULT: DIFFERENT from the expectation" : "RESULT: as expected");
	return differ ? 1 : 0;
}`);
  return out.join('\n') + '\n';
}
