import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  editDistance,
  ERRNO,
  errnoName,
  errnoNumber,
  IP_PMTUDISC,
  IPPROTO,
  MSG,
  msgFlags,
  resolveCmsgType,
  resolveLevel,
  resolveOption,
  SOF_TIMESTAMPING,
  SOL,
  SOL_IP_NAMES,
  SOL_RAW_NAMES,
  SOL_SOCKET_CMSG_NAMES,
  SOL_SOCKET_NAMES,
  SOL_UDP_NAMES,
  UnknownNameError,
} from './constants.js';

function hasGcc(): boolean {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Compiles a C program that prints, for every name the installed headers
 * define, its value; returns name → value. Names the headers lack (kernel
 * internal, or newer than the installed linux-libc-dev) are absent.
 */
function headerValues(names: string[], enums: string[]): Map<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'skbdiff-const-'));
  try {
    const body = names
      .map((n) => `#ifdef ${n}\n  printf("%s %lld\\n", "${n}", (long long)(${n}));\n#endif`)
      .concat(enums.map((n) => `  printf("%s %lld\\n", "${n}", (long long)(${n}));`))
      .join('\n');
    writeFileSync(
      join(dir, 'c.c'),
      `#define _GNU_SOURCE
#include <stdio.h>
#include <errno.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <linux/net_tstamp.h>
#include <linux/errqueue.h>
#include <linux/icmp.h>
int main(void) {
${body}
  return 0;
}
`,
    );
    execFileSync('gcc', ['-o', join(dir, 'c'), join(dir, 'c.c')], { stdio: ['ignore', 'ignore', 'pipe'] });
    const out = execFileSync(join(dir, 'c'), { encoding: 'utf8' });
    return new Map(
      out
        .trim()
        .split('\n')
        .map((l) => {
          const [n, v] = l.split(' ');
          return [n!, Number(v)];
        }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const TABLES = { IPPROTO, SOL, SOL_IP_NAMES, IP_PMTUDISC, SOL_SOCKET_NAMES, SOL_SOCKET_CMSG_NAMES, SOL_UDP_NAMES, SOL_RAW_NAMES, MSG, SOF_TIMESTAMPING, ERRNO };

test('every name the installed headers define has the headers\' value', (t) => {
  if (!hasGcc()) {
    t.fail('gcc is needed to check the tables against the C headers');
    return;
  }
  const all = new Map<string, number>();
  for (const table of Object.values(TABLES)) for (const [n, v] of Object.entries(table)) all.set(n, v);
  // glibc's MSG_* are unsigned; MSG_CMSG_COMPAT is not in user headers.
  // linux/net_tstamp.h has the SOF_* as a bare enum (no #define): the 6.1 ones are printed unconditionally.
  const sof61 = Object.keys(SOF_TIMESTAMPING).filter((n) => SOF_TIMESTAMPING[n]! <= 1 << 15);
  const got = headerValues([...all.keys()].filter((n) => !sof61.includes(n)), sof61);
  const mismatches = [...got].filter(([n, v]) => all.get(n) !== v && !(n.startsWith('MSG_') && all.get(n) === v >>> 0));
  t.deepEqual(mismatches, []);
  // Most names must have been checked, or the test checks nothing.
  t.true(got.size > 300, `only ${got.size} names found in the headers`);
  const unchecked = [...all.keys()].filter((n) => !got.has(n));
  t.log(`not in the installed headers (kernel-internal or newer): ${unchecked.join(' ')}`);
});

test('names newer than the installed headers are the upstream values', (t) => {
  // include/uapi/asm-generic/socket.h after the 6.13 devmem renumbering, 6.16/6.18 additions
  t.is(SOL_SOCKET_CMSG_NAMES.SCM_TS_OPT_ID, 81);
  t.is(SOL_SOCKET_CMSG_NAMES.SCM_DEVMEM_DMABUF, 79);
  t.is(SOL_SOCKET_NAMES.SO_RCVPRIORITY, 82);
  t.is(SOF_TIMESTAMPING.SOF_TIMESTAMPING_OPT_ID_TCP, 0x10000);
});

test('levels, option names and cmsg types resolve per level', (t) => {
  t.is(resolveLevel('SOL_IP'), 0);
  t.is(resolveLevel('IPPROTO_UDP'), 17);
  t.is(resolveLevel('SOL_UDPLITE'), 136);
  t.is(resolveLevel(99), 99);
  t.is(resolveOption('SOL_IP', 'IP_TTL'), 2);
  t.is(resolveOption('SOL_UDPLITE', 'UDPLITE_SEND_CSCOV'), 10);
  t.is(resolveOption('SOL_UDPLITE', 'UDP_CORK'), 1);
  t.is(resolveOption(1, 'SO_MARK'), 36);
  t.is(resolveOption('SOL_IP', 1234), 1234);
  t.is(resolveCmsgType('SOL_SOCKET', 'SCM_TXTIME'), 61);
  t.is(resolveCmsgType('SOL_SOCKET', 'SO_MARK'), 36);
  t.is(resolveCmsgType('SOL_UDP', 'UDP_SEGMENT'), 103);
  // SCM_* names are cmsg types, not option names
  t.throws(() => resolveOption('SOL_SOCKET', 'SCM_TXTIME'), { message: 'unknown SOL_SOCKET option name "SCM_TXTIME" (did you mean SO_TXTIME?)' });
});

test('unknown names: a message with a suggestion when one is close', (t) => {
  const cases: Array<[() => unknown, string]> = [
    [() => resolveOption('SOL_IP', 'IP_TLL'), 'unknown SOL_IP option name "IP_TLL" (did you mean IP_TTL?)'],
    [() => resolveCmsgType('SOL_IP', 'ip_ttl'), 'unknown SOL_IP cmsg type "ip_ttl" (did you mean IP_TTL?)'],
    [() => resolveCmsgType('SOL_SOCKET', 'SO_MRK'), 'unknown SOL_SOCKET cmsg type "SO_MRK" (did you mean SO_MARK?)'],
    [() => resolveLevel('SOL_PI'), 'unknown level "SOL_PI" (did you mean SOL_IP?)'],
    [() => msgFlags(['MSG_MOER']), 'unknown MSG_* flag "MSG_MOER" (did you mean MSG_MORE?)'],
    [() => resolveOption('SOL_IP', 'FOO'), 'unknown SOL_IP option name "FOO"'],
    [() => errnoNumber('EINVALL'), 'unknown errno name "EINVALL" (did you mean EINVAL?)'],
    [() => resolveOption(99, 'IP_TTL'), 'level 99 has no option names (known: SOL_IP, SOL_SOCKET, SOL_UDP, SOL_UDPLITE, SOL_RAW); write the option as a number'],
  ];
  for (const [f, message] of cases) t.throws(f, { message });
  t.true(t.throws(() => resolveOption('SOL_IP', 'IP_TLL')) instanceof UnknownNameError);
});

test('MSG flags OR into an unsigned 32-bit value', (t) => {
  t.is(msgFlags([]), 0);
  t.is(msgFlags(['MSG_MORE', 'MSG_PROBE', 'MSG_DONTWAIT']), 0x8050);
  t.is(msgFlags(['MSG_CMSG_COMPAT', 1]), 0x80000001);
  t.is(msgFlags([0xffffffff]), 0xffffffff);
});

test('errno names both ways; aliases map to the canonical name', (t) => {
  t.is(errnoNumber('EMSGSIZE'), 90);
  t.is(errnoNumber('EWOULDBLOCK'), 11);
  t.is(errnoName(11), 'EAGAIN');
  t.is(errnoName(95), 'EOPNOTSUPP');
  t.is(errnoName(35), 'EDEADLK');
  t.is(errnoName(133), 'EHWPOISON');
  t.is(errnoName(41), null);
  // 1..133 without the two holes (41, 58) of asm-generic/errno.h
  for (let n = 1; n <= 133; n++) if (n !== 41 && n !== 58) t.not(errnoName(n), null, `errno ${n}`);
});

test('edit distance', (t) => {
  t.is(editDistance('IP_TLL', 'IP_TTL'), 1);
  t.is(editDistance('', 'abc'), 3);
  t.is(editDistance('kitten', 'sitting'), 3);
});
