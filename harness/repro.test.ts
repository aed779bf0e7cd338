import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCases } from '../model/case-read.js';
import type { Case } from '../model/case.js';
import { lower } from '../model/lower.js';
import { predict } from '../model/predict.js';
import { profileFor } from '../model/profiles.js';
import type { ExpectedResult } from '../model/result.js';
import { reproducer } from './repro.js';
import { EXAMPLE } from '../model/testing/fixtures.js';

const example = EXAMPLE;

const readOne = (text: string): Case => {
  const e = readCases(text, { file: 'x.json', jsonl: false })[0]!;
  if (!e.ok) throw e.error;
  return e.case;
};

const kase = readOne(example);
const expected = predict(lower(kase), profileFor(release()));

test('the C source is self-contained and carries the case, the control bytes and the expectation', (t) => {
  const c = reproducer(kase, expected, undefined, { release: 'test-release' });
  t.regex(c, /skbdiff reproducer for case ttl-cmsg-overrides-sockopt/);
  t.regex(c, /An IP_TTL cmsg wins over the IP_TTL socket option\./);
  t.regex(c, /Kernel observed: test-release/);
  t.regex(c, /gcc -static -O2 -Wall/);
  t.regex(c, /cmsg 0 at 0: SOL_IP \(0\) IP_TTL \(2\)/);
  // cmsg_len 20 (0x14), level 0, type 2, value 3, padding
  t.regex(c, /0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,\n\t0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,/);
  t.regex(c, /unshare\(CLONE_NEWNET\)/);
  t.regex(c, /dev tx mtu 1500 arp off up/);
  t.notRegex(c, /#include "/, 'no local headers');
});

const root = process.getuid?.() === 0;
const haveGcc = spawnSync('gcc', ['--version']).status === 0;
const realTest = root && haveGcc ? test.serial : test.skip;

function buildAndRun(src: string): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'skbdiff-repro-'));
  try {
    writeFileSync(join(dir, 'repro.c'), src);
    execFileSync('gcc', ['-static', '-O2', '-Wall', '-Werror', '-o', join(dir, 'repro'), join(dir, 'repro.c')], { stdio: 'pipe' });
    const r = spawnSync(join(dir, 'repro'), [], { encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

realTest('real: the example compiles with gcc -static, runs as root, sends 100 bytes, one 128-byte packet, exit 0', (t) => {
  const r = buildAndRun(reproducer(kase, expected, undefined, { release: release() }));
  t.log(r.stdout);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^send 0: ret 100 {2}expected ret 100 {2}ok$/m);
  t.regex(r.stdout, /^packets: 1 captured, 1 expected$/m);
  t.regex(r.stdout, /^packet 0: 128 bytes$/m);
  t.regex(r.stdout, /^ {2}45 00 00 80 /m);
  t.regex(r.stdout, /^packet 0: as expected$/m);
  t.regex(r.stdout, /RESULT: as expected/);
});

realTest('real: a wrong expectation (TTL 9 instead of 3, send ret 99) exits 1 and says where', (t) => {
  const wrong: ExpectedResult = JSON.parse(JSON.stringify(expected));
  const b = Buffer.from(wrong.packets[0]!.hex, 'hex');
  b[8] = 9; // ttl
  wrong.packets[0]!.hex = b.toString('hex');
  wrong.sends[0] = { ret: 99 };
  const r = buildAndRun(reproducer(kase, wrong));
  t.is(r.status, 1, r.stdout + r.stderr);
  t.regex(r.stdout, /^send 0: ret 100 {2}expected ret 99 {2}DIFFERENT$/m);
  t.regex(r.stdout, /bytes: 1 differ, first at offset 8 \(expected 0x09, got 0x03\)/);
  t.regex(r.stdout, /RESULT: DIFFERENT/);
});

realTest('real: an unbound UDP socket with a pktinfo "tx" cmsg: the picked port is patched in, the run matches', (t) => {
  const c = readOne(
    JSON.stringify({
      format: 'skbdiff-case/1',
      id: 'unbound-pktinfo',
      socket: { type: 'dgram', protocol: 'udp' },
      sends: [
        { to: { addr: '198.18.0.2', port: 7000 }, payload: { length: 3000 }, cmsgs: [{ level: 'SOL_IP', type: 'IP_PKTINFO', value: { pktinfo: { ifindex: 'tx', spec_dst: '198.18.0.1', addr: '0.0.0.0' } } }] },
        { to: { addr: '198.18.0.2', port: 7000 }, payload: { length: 33 }, iov: [3, 30], flags: [], cmsgs: [] },
      ],
    }),
  );
  const r = buildAndRun(reproducer(c, predict(lower(c), profileFor(release()))));
  t.log(r.stdout);
  t.is(r.status, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /^packets: 4 captured, 4 expected$/m);
});
