import test from 'ava';
import { ip4, type Program } from '../../model/program.js';
import {
  CaseCollector,
  encodeProgram,
  parseReplyLine,
  ProbeError,
  ProbeProtocolError,
  ReplyParser,
  spawnProbe,
} from './protocol.js';

const AF_INET = 2;
const SOCK_DGRAM = 2;
const IPPROTO_UDP = 17;
const SOL_IP = 0;
const IP_TTL = 2;
const MSG_MORE = 0x8000;

function program(over: Partial<Program> = {}): Program {
  return {
    id: 'ttl-cmsg',
    net: { mtu: 1500, routeMtu: null, sysctl: [], txChecksum: false, gso: false },
    socket: { domain: AF_INET, type: SOCK_DGRAM, protocol: IPPROTO_UDP },
    setsockopt: [],
    bind: null,
    connect: null,
    sends: [],
    ...over,
  };
}

test('encodeProgram writes every request line of PROTOCOL.md in call order', (t) => {
  const p = program({
    net: { mtu: 1280, routeMtu: 1000, sysctl: [['net.ipv4.ip_default_ttl', '9']], txChecksum: true, gso: false },
    setsockopt: [{ level: SOL_IP, name: IP_TTL, value: Uint8Array.of(3, 0, 0, 0) }, { level: 1, name: 36, value: new Uint8Array(0) }],
    bind: { addr: ip4('198.18.0.1'), port: 40000 },
    connect: { addr: ip4('198.18.0.2'), port: 7000 },
    sends: [
      {
        to: { addr: ip4('198.18.0.2'), port: 7001 },
        payload: Uint8Array.of(0, 1, 2, 0xff),
        iov: [1, 3],
        flags: MSG_MORE,
        control: new Uint8Array(28),
        txIfindexAt: [16],
        setsockoptBefore: [],
      },
      {
        setsockoptBefore: [{ level: 17, name: 1, value: Uint8Array.of(0, 0, 0, 0) }, { level: SOL_IP, name: IP_TTL, value: new Uint8Array(0) }],
        to: null, payload: new Uint8Array(0), iov: [0], flags: 0, control: new Uint8Array(0), txIfindexAt: [],
      },
    ],
  });
  t.is(
    encodeProgram(7, p),
    [
      'CASE 7 ttl-cmsg',
      'NET 1280 1000 1 0',
      'SYSCTL net.ipv4.ip_default_ttl 39',
      'SOCKET 2 2 17',
      'SETSOCKOPT 0 2 03000000',
      'SETSOCKOPT 1 36 -',
      'BIND 198.18.0.1 40000',
      'CONNECT 198.18.0.2 7000',
      `SEND 32768 198.18.0.2 7001 1,3 000102ff ${'00'.repeat(28)} 16`,
      'SENDOPT 17 1 00000000', // belongs to the next SEND: made right before its sendmsg
      'SENDOPT 0 2 -',
      'SEND 0 - - 0 - - -',
      'RUN',
      '',
    ].join('\n'),
  );
});

test('encodeProgram: CAPS after SOCKET only when the program has caps, as a hex mask of capability bits', (t) => {
  const lines = (caps: number[] | null | undefined): string[] =>
    encodeProgram(1, program({ socket: { domain: AF_INET, type: SOCK_DGRAM, protocol: IPPROTO_UDP, ...(caps !== undefined ? { caps } : {}) } })).split('\n');
  t.false(lines(undefined).some((l) => l.startsWith('CAPS')), 'no caps: the request is what /2 sent');
  t.false(lines(null).some((l) => l.startsWith('CAPS')));
  const none = lines([]);
  t.is(none[none.indexOf('SOCKET 2 2 17') + 1], 'CAPS 0');
  t.true(lines([13]).includes('CAPS 2000')); // 1 << CAP_NET_RAW
  t.true(lines([12]).includes('CAPS 1000')); // 1 << CAP_NET_ADMIN
  t.true(lines([10, 12, 13]).includes('CAPS 3400'));
  t.throws(() => lines([21]), { message: /capability 21 cannot be sent/ }); // CAP_SYS_ADMIN is not a case's to drop
});

test('encodeProgram: flags above 2^31 stay unsigned, ids with spaces stay one token, defaults are "-"', (t) => {
  const text = encodeProgram(0, program({
    id: 'a b',
    sends: [{ to: null, payload: Uint8Array.of(1), iov: [1], flags: 0x80000000 | 0, control: new Uint8Array(0), txIfindexAt: [], setsockoptBefore: [] }],
  }));
  t.is(text, 'CASE 0 a_b\nNET 1500 - 0 0\nSOCKET 2 2 17\nSEND 2147483648 - - 1 01 - -\nRUN\n');
  t.throws(() => encodeProgram(-1, program()), { instanceOf: RangeError });
  t.throws(() => encodeProgram(1, program({ net: { ...program().net, sysctl: [['net/ipv4 x', '1']] } })));
});

test('parseReplyLine reads READY, RES, INFO, DONE and ERR', (t) => {
  t.deepEqual(parseReplyLine('READY skbdiff-probe/2 release=6.18.44 tx=tx rx=rx txmac=02:53:4b:42:00:01'), {
    kind: 'READY', protocol: 'skbdiff-probe/2', release: '6.18.44', tx: 'tx', rx: 'rx', txMac: '02:53:4b:42:00:01',
  });
  t.deepEqual(parseReplyLine('READY skbdiff-probe/2 release=5.10.0 tx=eth1 rx=- txmac=52:54:00:12:34:56').kind, 'READY');
  t.is((parseReplyLine('READY skbdiff-probe/2 release=5.10.0 tx=eth1 rx=- txmac=52:54:00:12:34:56') as { rx: unknown }).rx, null);
  t.deepEqual(parseReplyLine('RES 3 socket ret=5'), { kind: 'RES', seq: 3, call: 'socket', index: null, result: { ret: 5 } });
  t.deepEqual(parseReplyLine('RES 3 setsockopt 1 errno=ENOPROTOOPT'), {
    kind: 'RES', seq: 3, call: 'setsockopt', index: 1, result: { errno: 'ENOPROTOOPT' },
  });
  t.deepEqual(parseReplyLine('RES 3 send 0 ret=0'), { kind: 'RES', seq: 3, call: 'send', index: 0, result: { ret: 0 } });
  t.deepEqual(parseReplyLine('INFO 3 sport=-1 txifindex=2'), { kind: 'INFO', seq: 3, sport: null, txIfindex: 2 });
  t.deepEqual(parseReplyLine('INFO 3 sport=40000 txifindex=2'), { kind: 'INFO', seq: 3, sport: 40000, txIfindex: 2 });
  t.deepEqual(parseReplyLine('DONE 3'), { kind: 'DONE', seq: 3 });
  t.deepEqual(parseReplyLine('ERR 4 sysctl net.ipv4.x: No such file or directory'), {
    kind: 'ERR', seq: 4, message: 'sysctl net.ipv4.x: No such file or directory',
  });
});

test('parseReplyLine rejects what PROTOCOL.md does not allow, showing the line', (t) => {
  for (const bad of ['HELLO', 'RES x socket ret=1', 'RES 1 socket 0 ret=1', 'RES 1 send ret=1', 'RES 1 send 0 ret=-1', 'RES 1 bind errno=einval', 'RES 1 frob ret=0', 'INFO 1 sport=3', 'DONE', 'READY skbdiff-probe/2 tx=tx']) {
    const err = t.throws(() => parseReplyLine(bad), { instanceOf: ProbeProtocolError }, bad);
    t.true(err?.message.includes(JSON.stringify(bad)), err?.message);
  }
});

test('ReplyParser joins lines split across chunks and keeps the unfinished tail', (t) => {
  const p = new ReplyParser();
  t.deepEqual(p.push('RES 1 sock'), []);
  t.is(p.pending, 'RES 1 sock');
  t.deepEqual(p.push('et ret=3\nRES 1 send 0 ret=100\nDO'), [
    { kind: 'RES', seq: 1, call: 'socket', index: null, result: { ret: 3 } },
    { kind: 'RES', seq: 1, call: 'send', index: 0, result: { ret: 100 } },
  ]);
  t.deepEqual(p.push('NE 1\n'), [{ kind: 'DONE', seq: 1 }]);
  t.is(p.pending, '');
});

function feed(c: CaseCollector, lines: string[]) {
  let out = null;
  for (const l of lines) out = c.take(parseReplyLine(l));
  return out;
}

test('CaseCollector folds one case into CallResults, sport and ifindex', (t) => {
  t.deepEqual(
    feed(new CaseCollector(5), [
      'RES 5 socket ret=3', 'RES 5 setsockopt 0 ret=0', 'RES 5 setsockopt 1 errno=EINVAL', 'RES 5 bind ret=0',
      'RES 5 send 0 ret=100', 'RES 5 send 1 errno=EMSGSIZE', 'INFO 5 sport=40000 txifindex=2', 'DONE 5',
    ]),
    {
      results: { socket: { ret: 3 }, setsockopt: [{ ret: 0 }, { errno: 'EINVAL' }], bind: { ret: 0 }, sends: [{ ret: 100 }, { errno: 'EMSGSIZE' }] },
      sport: 40000,
      txIfindex: 2,
    },
  );
  // SENDOPT results continue the setsockopt count, interleaved with the sends in call order
  t.deepEqual(
    feed(new CaseCollector(5), [
      'RES 5 socket ret=3', 'RES 5 setsockopt 0 ret=0', 'RES 5 send 0 ret=10', 'RES 5 setsockopt 1 ret=0',
      'RES 5 setsockopt 2 errno=EINVAL', 'RES 5 send 1 ret=20', 'INFO 5 sport=40000 txifindex=2', 'DONE 5',
    ]),
    {
      results: { socket: { ret: 3 }, setsockopt: [{ ret: 0 }, { ret: 0 }, { errno: 'EINVAL' }], sends: [{ ret: 10 }, { ret: 20 }] },
      sport: 40000,
      txIfindex: 2,
    },
  );
  t.throws(() => feed(new CaseCollector(5), ['RES 5 socket ret=3', 'RES 5 setsockopt 0 ret=0', 'RES 5 send 0 ret=1', 'RES 5 setsockopt 0 ret=0']), {
    instanceOf: ProbeProtocolError,
  });
  t.deepEqual(feed(new CaseCollector(6), ['ERR 6 tx mtu 40 up: Invalid argument']), { labError: 'tx mtu 40 up: Invalid argument' });
  const other = new CaseCollector(7);
  t.throws(() => other.take(parseReplyLine('DONE 8')), { instanceOf: ProbeProtocolError });
  t.throws(() => feed(new CaseCollector(9), ['RES 9 socket ret=3', 'RES 9 send 1 ret=1']), { instanceOf: ProbeProtocolError });
  t.throws(() => feed(new CaseCollector(9), ['RES 9 socket ret=3', 'DONE 9']), { instanceOf: ProbeProtocolError });
});

const READY = 'READY skbdiff-probe/3 release=test tx=tx rx=rx txmac=02:53:4b:42:00:01';

test('spawnProbe kills a probe that does not finish a case in time and says so', async (t) => {
  const p = await spawnProbe(['bash', '-c', `echo '${READY}'; exec sleep 60`], { caseTimeoutMs: 300 });
  t.is(p.ready.release, 'test');
  const started = Date.now();
  const err = await t.throwsAsync(p.runCase(1, program()), { instanceOf: ProbeError });
  t.regex(err?.message ?? '', /case 1 \(ttl-cmsg\) took over 300 ms: probe killed/);
  t.true(Date.now() - started < 3000);
  await p.close();
  t.true(p.exited);
  // later cases fail at once instead of hanging
  await t.throwsAsync(p.runCase(2, program()), { instanceOf: ProbeError });
});

test('spawnProbe reports a probe that dies, with its stderr', async (t) => {
  const p = await spawnProbe(['bash', '-c', `echo '${READY}'; read line; echo 'boom: no veth' >&2; exit 3`]);
  const err = await t.throwsAsync(p.runCase(1, program()), { instanceOf: ProbeError });
  t.regex(err?.message ?? '', /exited \(code 3\).*boom: no veth/);
  await t.throwsAsync(spawnProbe(['bash', '-c', 'echo nonsense']), { instanceOf: ProbeError });
  // a probe of the previous protocol would not understand CAPS (nor /1 SENDOPT): refused at READY
  for (const old of ['/2', '/1']) {
    await t.throwsAsync(spawnProbe(['bash', '-c', `echo '${READY.replace('/3', old)}'; exec sleep 5`]), {
      instanceOf: ProbeError,
      message: /expected READY skbdiff-probe\/3/,
    });
  }
  await t.throwsAsync(spawnProbe(['/nonexistent/skbdiff-probe']), { instanceOf: ProbeError });
});

test('spawnProbe runs queued cases one at a time against a scripted probe', async (t) => {
  // a stand-in that answers each RUN with a fixed reply for the seq it read
  const script = `echo '${READY}'
while read -r cmd seq rest; do
  case "$cmd" in
    CASE) s=$seq ;;
    RUN) echo "RES $s socket ret=3"; echo "RES $s send 0 ret=$s"; echo "INFO $s sport=-1 txifindex=2"; echo "DONE $s" ;;
    QUIT) exit 0 ;;
  esac
done`;
  const p = await spawnProbe(['bash', '-c', script]);
  const runs = await Promise.all([p.runCase(10, program()), p.runCase(11, program())]);
  t.deepEqual(runs, [
    { results: { socket: { ret: 3 }, setsockopt: [], sends: [{ ret: 10 }] }, sport: null, txIfindex: 2 },
    { results: { socket: { ret: 3 }, setsockopt: [], sends: [{ ret: 11 }] }, sport: null, txIfindex: 2 },
  ]);
  await p.close();
  t.true(p.exited);
});
