import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Unmodelled } from '../model/net/errors.js';
import { predict } from '../model/predict.js';
import type { Program } from '../model/program.js';
import { checksumValid, field, headerChecksum } from '../model/wire/ipv4.js';
import { fromHex, toHex } from '../model/wire/error.js';
import { main, type CliDeps } from './cli.js';
import { readPcap } from './pcapfile.js';
import { readRunResults } from './results.js';
import type { PredictFn, TargetKind } from './run.js';
import type { Observation, Target, TargetInfo } from './target.js';
import { defaultProbePath } from './targets/netns.js';
import { EXAMPLE as FORMAT_EXAMPLE } from '../model/testing/fixtures.js';

// ---- helpers ----

function io(extra: Partial<CliDeps> = {}): { deps: CliDeps; out: () => string; err: () => string } {
  let o = '';
  let e = '';
  return {
    deps: { stdout: { write: (s: string) => (o += s) }, stderr: { write: (s: string) => (e += s), isTTY: false }, ...extra },
    out: () => o,
    err: () => e,
  };
}

const made: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'skbdiff-cli-'));
  made.push(d);
  return d;
};
test.after.always(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A one-send UDP case as one jsonl line. */
function udpCase(id: string, length: number, extra: { flags?: string[]; cmsgs?: unknown[]; bind?: unknown } = {}): string {
  return JSON.stringify({
    format: 'skbdiff-case/1',
    id,
    about: `${id}: ${length} bytes of UDP`,
    socket: { type: 'dgram', protocol: 'udp', bind: extra.bind ?? null, connect: null, setsockopt: [] },
    sends: [{ to: { addr: '198.18.0.2', port: 7000 }, payload: { length }, flags: extra.flags ?? [], cmsgs: extra.cmsgs ?? [] }],
  });
}

function caseFile(lines: string[], dir = tmp()): string {
  const f = join(dir, 'cases.jsonl');
  writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

/** Ethernet header for a frame that carries `ip`. */
function ether(ip: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + ip.length);
  f.set([2, 0x53, 0x4b, 0x42, 0, 2, 2, 0x53, 0x4b, 0x42, 0, 1, 0x08, 0x00]);
  f.set(ip, 14);
  return f;
}

function fixChecksum(p: Uint8Array): void {
  const ihl = (p[0]! & 15) * 4;
  const c = headerChecksum(p.subarray(0, ihl));
  p[field.checksum] = c >> 8;
  p[field.checksum + 1] = c & 0xff;
}

/**
 * A fake kernel for unit tests of the orchestration: it "observes" what the
 * real model predicts for the case, then lets the test change it.
 */
class FakeTarget implements Target {
  readonly name = 'fake';
  closed = false;
  ran: string[] = [];
  constructor(
    private readonly tweak: (o: Observation, p: Program) => Observation | Promise<Observation> = (o) => o,
    private readonly dropCount = 0,
  ) {}
  async start(): Promise<TargetInfo> {
    return { release: '6.18.44', details: { target: 'fake kernel' } };
  }
  async runCase(p: Program): Promise<Observation> {
    this.ran.push(p.id);
    const e = predict(p, (await import('../model/profiles.js')).profileFor('6.18.44'), { sport: 40000, txIfindex: 2 });
    const packets = e.packets.map((x) => fromHex(x.hex));
    return this.tweak(
      {
        result: { id: e.id, setsockopt: e.setsockopt, sends: e.sends, packets: packets.map((b) => ({ hex: toHex(b) })), inputs: { sport: 40000, tx_ifindex: 2 }, ...(e.bind ? { bind: e.bind } : {}) },
        frames: packets.map((b, i) => ({ tsUs: 1_700_000_000_000_000 + i, linktype: 1, data: ether(b) })),
        captureMsOfDay: null,
      },
      p,
    );
  }
  drops(): number {
    return this.dropCount;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function fakeTargets(t: FakeTarget): Map<string, TargetKind> {
  return new Map([['fake', { describe: 'a fake', create: () => t }]]);
}

/** Lower TTL by one on the first packet (checksum fixed): exactly one field differs. */
const ttlMinusOne = (o: Observation): Observation => {
  const b = fromHex(o.result.packets[0]!.hex);
  b[field.ttl] = b[field.ttl]! - 1;
  fixChecksum(b);
  return { ...o, result: { ...o.result, packets: [{ hex: toHex(b) }, ...o.result.packets.slice(1)] }, frames: [{ ...o.frames[0]!, data: ether(b) }, ...o.frames.slice(1)] };
};

// ---- run with a fake target ----

test('run: every case passes → exit 0, results.json, observed.pcap in case order, report.txt, latest', async (t) => {
  const dir = tmp();
  const f = caseFile([udpCase('a', 10), udpCase('probe', 10, { flags: ['MSG_PROBE'] }), udpCase('b', 30)], dir);
  const target = new FakeTarget();
  const { deps, out } = io({ targets: fakeTargets(target) });
  const code = await main(['run', f, '--target', 'fake', '--out', join(dir, 'res')], deps);
  t.is(code, 0);
  t.true(target.closed);
  const latest = readlinkSync(join(dir, 'res', 'latest'));
  t.regex(latest, /^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
  const run = join(dir, 'res', latest);
  const r = readRunResults(join(run, 'results.json'));
  t.is(r.format, 'skbdiff-results/1');
  t.deepEqual(r.counts, { cases: 3, pass: 3, differ: 0, error: 0 });
  t.deepEqual(r.cases.map((c) => [c.id, c.verdict, c.source, c.frames]), [
    ['a', 'pass', `${f}:1`, 1],
    ['probe', 'pass', `${f}:2`, 0],
    ['b', 'pass', `${f}:3`, 1],
  ]);
  t.deepEqual(r.profile, { line: '6.18', release: '6.18.44' });
  t.is(r.exit_code, 0);
  t.true(r.valid);
  const pcap = readPcap(join(run, 'observed.pcap'));
  t.deepEqual(pcap.frames.map((x) => x.data.length), [14 + 20 + 8 + 10, 14 + 20 + 8 + 30]);
  t.is(readFileSync(join(run, 'report.txt'), 'utf8'), out());
  t.regex(out(), /^3 cases: 3 passed, 0 differing, 0 errors in \d+\.\d s; kernel 6\.18\.44; model profile 6\.18 \(for 6\.18\.44\)$/m);
});

test('run: a differing packet → exit 1; report names the field and shows the hex dump; findings stored as data', async (t) => {
  const dir = tmp();
  const f = caseFile([udpCase('same', 10), udpCase('ttl-off', 10)], dir);
  const target = new FakeTarget((o, p) => (p.id === 'ttl-off' ? ttlMinusOne(o) : o));
  const { deps, out } = io({ targets: fakeTargets(target) });
  t.is(await main(['run', f, '--target=fake', '--out', join(dir, 'res')], deps), 1);
  const report = out();
  t.true(report.includes(`DIFFER ttl-off (${f}:2)\n  ttl-off: 10 bytes of UDP\n  packet 0 ip.ttl: expected 64 (0x40), got 63 (0x3f)\n`), report);
  t.regex(report, /packet 0 expected: IPv4 198\.18\.0\.1 > 198\.18\.0\.2 .*ttl 64/);
  t.regex(report, /packet 0      got: IPv4 198\.18\.0\.1 > 198\.18\.0\.2 .*ttl 63/);
  t.regex(report, /offs {2}expected/);
  t.regex(report, /\^\^/, 'the TTL byte is marked');
  t.false(report.includes('DIFFER same'));
  const r = readRunResults(join(dir, 'res', 'latest', 'results.json'));
  const c = r.cases[1]!;
  t.is(c.verdict, 'differ');
  t.deepEqual(c.rendered, ['packet 0 ip.ttl: expected 64 (0x40), got 63 (0x3f)']);
  t.like(c.findings[0], { kind: 'FieldMismatch', packet: 0, field: 'ip.ttl', expected: { value: 64 }, got: { value: 63 } });
  t.not(c.expected, null);
  t.not(c.observed, null);
});

test('run: harness error, unmodelled case and malformed case each end as error; the rest still run; exit 2 (errors win over differences)', async (t) => {
  const dir = tmp();
  const bad = udpCase('typo', 10).replace('"flags":[]', '"flags":["MSG_PORBE"]');
  const f = caseFile([udpCase('ok', 10), udpCase('lab-broke', 10), bad, udpCase('gap', 10), udpCase('ttl-off', 10)], dir);
  const target = new FakeTarget((o, p) => (p.id === 'lab-broke' ? { ...o, harnessError: 'the netns worker died' } : p.id === 'ttl-off' ? ttlMinusOne(o) : o));
  const fakePredict: PredictFn = (p, profile, inputs) => {
    if (p.id === 'gap') throw new Unmodelled('IP_FROB cmsgs');
    return predict(p, profile, inputs);
  };
  const { deps, out } = io({ targets: fakeTargets(target), predict: fakePredict });
  t.is(await main(['run', f, '--target', 'fake', '--out', join(dir, 'res')], deps), 2);
  t.deepEqual(target.ran, ['ok', 'lab-broke', 'gap', 'ttl-off'], 'the malformed case is not run, the others are');
  const r = readRunResults(join(dir, 'res', 'latest', 'results.json'));
  t.deepEqual(r.cases.map((c) => [c.id, c.verdict, c.error?.kind ?? null]), [
    ['ok', 'pass', null],
    ['lab-broke', 'error', 'harness'],
    [null, 'error', 'malformed'],
    ['gap', 'error', 'unmodelled'],
    ['ttl-off', 'differ', null],
  ]);
  t.is(r.cases[2]!.error!.message, `${f}:3: $.sends[0].flags[0]: unknown MSG_* flag "MSG_PORBE" (did you mean MSG_PROBE?)`);
  t.is(r.cases[3]!.error!.message, 'unmodelled: the model does not cover IP_FROB cmsgs');
  t.not(r.cases[1]!.observed, null, 'what the target did return is kept');
  t.deepEqual(r.counts, { cases: 5, pass: 1, differ: 1, error: 3 });
  t.true(out().includes(`ERROR lab-broke (${f}:2): the netns worker died\n`));
  t.true(out().includes(`ERROR (no id): ${f}:3: $.sends[0].flags[0]`));
  t.true(out().includes(`ERROR gap (${f}:4): unmodelled: the model does not cover IP_FROB cmsgs\n`));
});

test('run: a capture that dropped frames makes the run invalid → exit 2, said on stderr and in the report', async (t) => {
  const dir = tmp();
  const f = caseFile([udpCase('a', 10)], dir);
  const { deps, out, err } = io({ targets: fakeTargets(new FakeTarget((o) => o, 3)) });
  t.is(await main(['run', f, '--target', 'fake', '--out', join(dir, 'res'), '--json'], deps), 2);
  const r = JSON.parse(out()) as ReturnType<typeof readRunResults>;
  t.false(r.valid);
  t.is(r.drops, 3);
  t.is(r.counts.pass, 1);
  t.true(err().includes('skbdiff: INVALID RUN: the capture dropped 3 frames'));
  t.true(readFileSync(join(dir, 'res', 'latest', 'report.txt'), 'utf8').includes('INVALID RUN'));
  t.deepEqual(readRunResults(join(dir, 'res', 'latest', 'results.json')), r, '--json prints results.json');
});

test.serial('run: SIGINT during a case → target closed, partial results, the rest error: interrupted, exit 130', async (t) => {
  const dir = tmp();
  const f = caseFile([udpCase('first', 10), udpCase('second', 10), udpCase('third', 10), udpCase('fourth', 10)], dir);
  const target = new FakeTarget(async (o, p) => {
    if (p.id === 'second') {
      process.emit('SIGINT');
      await new Promise((r) => setTimeout(r, 50));
    }
    return o;
  });
  const before = process.listenerCount('SIGINT');
  const { deps, err } = io({ targets: fakeTargets(target) });
  t.is(await main(['run', f, '--target', 'fake', '--out', join(dir, 'res')], deps), 130);
  t.is(process.listenerCount('SIGINT'), before, 'the SIGINT handler is removed');
  t.true(target.closed);
  t.deepEqual(target.ran, ['first', 'second']);
  const r = readRunResults(join(dir, 'res', 'latest', 'results.json'));
  t.true(r.interrupted);
  t.is(r.exit_code, 130);
  t.deepEqual(r.cases.map((c) => [c.id, c.verdict, c.error?.kind ?? null]), [
    ['first', 'pass', null],
    ['second', 'error', 'interrupted'],
    ['third', 'error', 'interrupted'],
    ['fourth', 'error', 'interrupted'],
  ]);
  t.regex(err(), /interrupted/);
  t.is(readPcap(join(dir, 'res', 'latest', 'observed.pcap')).frames.length, 1);
});

test('run: a target that will not start → every case error: harness, run invalid, exit 2, target closed', async (t) => {
  const dir = tmp();
  const f = caseFile([udpCase('a', 10), udpCase('b', 10)], dir);
  const target = new FakeTarget();
  target.start = async () => {
    throw new Error('no probe at /nowhere');
  };
  const { deps, out, err } = io({ targets: fakeTargets(target) });
  t.is(await main(['run', f, '--target', 'fake', '--out', join(dir, 'res')], deps), 2);
  t.true(target.closed);
  const r = readRunResults(join(dir, 'res', 'latest', 'results.json'));
  t.false(r.valid);
  t.deepEqual(r.problems, ['target fake did not start: no probe at /nowhere']);
  t.deepEqual(r.cases.map((c) => [c.id, c.verdict, c.error?.kind, c.error?.message]), [
    ['a', 'error', 'harness', 'target fake did not start: no probe at /nowhere'],
    ['b', 'error', 'harness', 'target fake did not start: no probe at /nowhere'],
  ]);
  t.true(err().includes('skbdiff: target fake did not start: no probe at /nowhere\n'));
  t.regex(out(), /2 cases: 0 passed, 0 differing, 2 errors .*no model profile \(INVALID RUN\)/);
});

test('run: non-TTY progress prints a line every 25 cases', async (t) => {
  const dir = tmp();
  const f = caseFile(Array.from({ length: 60 }, (_, i) => udpCase(`c${i}`, 1)), dir);
  const { deps, err } = io({ targets: fakeTargets(new FakeTarget()) });
  t.is(await main(['run', f, '--target', 'fake', '--out', join(dir, 'res')], deps), 0);
  t.deepEqual(err().split('\n').filter(Boolean).map((l) => l.replace(/, [\d.]+ s$/, '')), ['[25/60] 0 differing, 0 errors', '[50/60] 0 differing, 0 errors']);
});

// ---- usage ----

test('usage: unknown command, flag and target are named; help documents exit statuses', async (t) => {
  let x = io();
  t.is(await main(['frob'], x.deps), 2);
  t.is(x.err(), 'skbdiff: unknown command "frob" (commands: predict, run, matrix, kconfig, generate, minimize, repro, help)\n');
  x = io();
  t.is(await main(['run', '--frob'], x.deps), 2);
  t.is(x.err(), 'skbdiff: run: unknown flag --frob (see skbdiff help run)\n');
  x = io();
  t.is(await main(['predict', 'x.json', '-k'], x.deps), 2);
  t.is(x.err(), 'skbdiff: predict: unknown flag -k (see skbdiff help predict)\n');
  x = io();
  t.is(await main(['run', '--target', 'lxc', 'x.jsonl'], x.deps), 2);
  t.is(x.err(), 'skbdiff: run: unknown target "lxc" (known targets: netns, docker, qemu, ssh)\n');
  x = io();
  t.is(await main(['run', '--target', 'qemu', 'x.jsonl'], x.deps), 2);
  t.regex(x.err(), /^skbdiff: run: the qemu target needs --kernel/);
  x = io();
  t.is(await main(['run', '--kernel-profile', 'banana', 'x.jsonl'], x.deps), 2);
  t.regex(x.err(), /^skbdiff: cannot pick a model profile for kernel release "banana"/);
  x = io();
  t.is(await main(['help', 'run'], x.deps), 0);
  t.regex(x.out(), /Exit status:\n {2}0 {4}every case passed\n {2}1 {4}some case differs/);
  t.regex(x.out(), /known: netns/);
  x = io();
  t.is(await main(['--help'], x.deps), 0);
  t.regex(x.out(), /skbdiff predict FILE/);
  x = io();
  t.is(await main([], x.deps), 2);
  t.regex(x.err(), /Usage:/);
});

// ---- predict ----

test('predict: the case-format.md example prints one result in the result format', async (t) => {
  const f = join(tmp(), 'example.json');
  writeFileSync(f, FORMAT_EXAMPLE);
  const { deps, out, err } = io();
  t.is(await main(['predict', f, '--kernel', '6.18.44'], deps), 0);
  t.is(err(), '');
  const r = JSON.parse(out());
  t.is(r.id, 'ttl-cmsg-overrides-sockopt');
  t.deepEqual(r.setsockopt, [{ ret: 0 }]);
  t.deepEqual(r.bind, { ret: 0 });
  t.deepEqual(r.sends, [{ ret: 100 }]);
  t.is(r.packets.length, 1);
  const p = fromHex(r.packets[0].hex);
  t.is(p.length, 20 + 8 + 100);
  t.is((p[2]! << 8) | p[3]!, 128, 'total length');
  t.is(p[field.ttl], 3, 'the cmsg TTL wins over the socket option');
  t.is(p[9], 17);
  t.deepEqual([...p.subarray(12, 20)], [198, 18, 0, 1, 198, 18, 0, 2]);
  t.deepEqual([(p[20]! << 8) | p[21]!, (p[22]! << 8) | p[23]!], [40000, 7000]);
  t.deepEqual([...p.subarray(28)], Array.from({ length: 100 }, (_, i) => i & 0xff));
  t.true(checksumValid(p));
  t.is(r.packets[0].rules['ip.checksum'], 'valid');
  t.truthy(r.packets[0].rules['ip.id']);
});

test('predict --max-header: 491 small skbs sent with MAX_HEADER 32, ENOBUFS with 80 on 6.18; unknown with --kernel alone: not modelled', async (t) => {
  const c = JSON.parse(udpCase('small-heads', 39232));
  c.net = { route_mtu: 100 };
  const f = caseFile([JSON.stringify(c)]);
  const run = async (...flags: string[]) => {
    const x = io();
    return { status: await main(['predict', f, '--kernel', '6.18.15', ...flags], x.deps), out: x.out(), err: x.err() };
  };
  const a = await run('--max-header', '32');
  t.is(a.status, 0, a.err);
  t.deepEqual(JSON.parse(a.out).sends, [{ ret: 39232 }]);
  t.is(JSON.parse(a.out).inputs.max_header, 32);
  const b = await run('--max-header', '80');
  t.deepEqual(JSON.parse(b.out).sends, [{ errno: 'ENOBUFS', from: '__ip_append_data' }]);
  const u = await run();
  t.is(u.status, 2);
  t.regex(u.err, /not modelled: .*491 skbs at the send-buffer limit/);
  const bad = await run('--max-header', 'lots');
  t.is(bad.status, 2);
  t.regex(bad.err, /--max-header "lots": a number of bytes/);
});

test('predict: a malformed case is named on stderr (file:line: $.path), exit 2, the other cases still print', async (t) => {
  const f = caseFile([udpCase('a', 10), udpCase('b', 10, { cmsgs: [{ level: 'SOL_IP', type: 'IP_TLL', value: { int: 3 } }] }), udpCase('c', 20)]);
  const { deps, out, err } = io();
  t.is(await main(['predict', f, '--kernel', '6.18.44'], deps), 2);
  t.is(err(), `${f}:2: $.sends[0].cmsgs[0].type: unknown SOL_IP cmsg type "IP_TLL" (did you mean IP_TTL?)\n`);
  const lines = out().trimEnd().split('\n');
  t.deepEqual(lines.map((l) => JSON.parse(l).id), ['a', 'c']);
  t.deepEqual(lines.map((l) => JSON.parse(l).sends), [[{ ret: 10 }], [{ ret: 20 }]]);
});

test('predict: an unmodelled case names the case and the gap, exit 2, others still print; stdin as -', async (t) => {
  const text = [udpCase('a', 10), udpCase('gap', 10), udpCase('c', 20)].join('\n') + '\n';
  const fakePredict: PredictFn = (p, profile, inputs) => {
    if (p.id === 'gap') throw new Unmodelled('IP_FROB cmsgs');
    return predict(p, profile, inputs);
  };
  const { deps, out, err } = io({ predict: fakePredict, stdin: (async function* () { yield Buffer.from(text); })() });
  t.is(await main(['predict', '-', '--kernel', '6.12.107'], deps), 2);
  t.is(err(), '<stdin>:2: case gap: not modelled: the model does not cover IP_FROB cmsgs\n');
  t.deepEqual(out().trimEnd().split('\n').map((l) => JSON.parse(l).id), ['a', 'c']);
});

// ---- the real thing ----

const isRoot = process.getuid?.() === 0;
const realTest = isRoot && existsSync(defaultProbePath) ? test.serial : test.serial.skip;

realTest('run on the real netns target: 3 cases, a verdict each, results dir that tcpdump reads', async (t) => {
  const dir = tmp();
  const f = caseFile([
    udpCase('udp-100', 100),
    udpCase('msg-probe', 100, { flags: ['MSG_PROBE'] }),
    udpCase('ttl-cmsg', 100, { bind: { addr: '198.18.0.1', port: 40000 }, cmsgs: [{ level: 'SOL_IP', type: 'IP_TTL', value: { int: 3 } }] }),
  ], dir);
  const { deps, out, err } = io();
  const code = await main(['run', f, '--out', join(dir, 'res')], deps);
  t.log(out());
  if (err()) t.log(err());
  const run = join(dir, 'res', readlinkSync(join(dir, 'res', 'latest')));
  const r = readRunResults(join(run, 'results.json'));
  t.is(r.target.name, 'netns');
  t.is(r.target.release, execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim());
  t.is(r.exit_code, code);
  t.is(r.drops, 0);
  t.deepEqual(r.cases.map((c) => c.id), ['udp-100', 'msg-probe', 'ttl-cmsg']);
  // A disagreement with the kernel would be a real finding: this asserts the model agrees on these three.
  t.deepEqual(r.cases.map((c) => c.verdict), ['pass', 'pass', 'pass'], out());
  t.is(code, 0);
  t.deepEqual(r.cases.map((c) => c.observed?.sends), [[{ ret: 100 }], [{ ret: 100 }], [{ ret: 100 }]]);
  const dump = execFileSync('tcpdump', ['-nv', '-r', join(run, 'observed.pcap')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const heads = dump.split('\n').filter((l) => /^\d/.test(l));
  t.is(heads.length, 2, dump);
  t.regex(heads[0]!, /ttl 64, .*proto UDP \(17\), length 128/);
  t.regex(heads[1]!, /ttl 3, .*proto UDP \(17\), length 128/);
  t.regex(dump, /198\.18\.0\.1\.40000 > 198\.18\.0\.2\.7000: /, 'the bound port on the wire');
});
