import test from 'ava';
import { fieldsOf, type Field } from './fields.js';
import * as ipv4 from './ipv4.js';
import * as udp from './udp.js';
import * as icmp from './icmp.js';
import { fromHex, toHex } from './error.js';

const SRC = 0xc6120001;
const DST = 0xc6120002;

/** name → value, byte strings as hex */
const table = (fs: Field[]) => Object.fromEntries(fs.map((f) => [f.name, typeof f.value === 'number' ? f.value : toHex(f.value)]));

/** Every byte is owned by exactly one non-bit field or by a set of bit fields covering the whole byte. */
function assertCovers(t: import('ava').ExecutionContext, bytes: Uint8Array, fs: Field[]): void {
  const owners = new Array<number>(bytes.length).fill(0);
  const bitMask = new Map<number, number>();
  for (const f of fs) {
    if (f.mask === undefined) for (let i = f.offset; i < f.offset + f.length; i++) owners[i]! += 1;
    else bitMask.set(f.offset, (bitMask.get(f.offset) ?? 0) | f.mask);
  }
  for (const [off, m] of bitMask) {
    const len = fs.find((f) => f.offset === off && f.mask !== undefined)!.length;
    t.is(m, 2 ** (8 * len) - 1, `bit fields at ${off} cover every bit`);
    for (let i = off; i < off + len; i++) owners[i]! += 1;
  }
  t.deepEqual(owners, new Array<number>(bytes.length).fill(1));
}

test('hand-made UDP datagram: every field named with its value', (t) => {
  const bytes = fromHex(FIXTURE_UDP);
  const fs = fieldsOf(bytes);
  assertCovers(t, bytes, fs);
  t.deepEqual(table(fs), {
    'ip.version': 4, 'ip.ihl': 5, 'ip.tos': 0, 'ip.total_length': 32, 'ip.id': 0x1234,
    'ip.reserved': 0, 'ip.df': 1, 'ip.mf': 0, 'ip.frag_offset': 0, 'ip.ttl': 64, 'ip.protocol': 17,
    'ip.checksum': 0x9c71, 'ip.src': SRC, 'ip.dst': DST,
    'udp.src_port': 40000, 'udp.dst_port': 7000, 'udp.length': 12, 'udp.checksum': 0xba11,
    payload: '00010203',
  });
  t.deepEqual(fs.find((f) => f.name === 'ip.frag_offset'), { name: 'ip.frag_offset', offset: 6, length: 2, value: 0, mask: 0x1fff });
});

test('options: TS with address slots, RR, EOL padding', (t) => {
  const options = fromHex('440c05 01 c6120001 00000000' + '0707040000000000'.slice(0, 14) + '00');
  const bytes = ipv4.emit({ tos: 0, id: 0, df: false, mf: false, fragOffset: 0, ttl: 1, protocol: 253, src: SRC, dst: DST, options }, Uint8Array.of(0xaa));
  const fs = fieldsOf(bytes);
  assertCovers(t, bytes, fs);
  const tb = table(fs);
  t.like(tb, {
    'ip.ihl': 10,
    'ip.options[0].type': 0x44, 'ip.options[0].length': 12, 'ip.options[0].pointer': 5,
    'ip.options[0].overflow': 0, 'ip.options[0].flags': 1,
    'ip.options[0].addr[0]': SRC, 'ip.options[0].time[0]': 0,
    'ip.options[1].type': 7, 'ip.options[1].length': 7, 'ip.options[1].pointer': 4, 'ip.options[1].addr[0]': 0,
    'ip.options[2].type': 0,
    payload: 'aa',
  });
  t.is(fs.find((f) => f.name === 'ip.options[0].time[0]')!.offset, 28);
  t.false('ip.options[2].padding' in tb); // EOL is the last byte
});

test('non-first fragment: no L4 header, payload only', (t) => {
  const bytes = ipv4.emit({ tos: 0, id: 7, df: false, mf: false, fragOffset: 1480, ttl: 64, protocol: 17, src: SRC, dst: DST, options: new Uint8Array() }, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9));
  const tb = table(fieldsOf(bytes));
  t.is(tb['ip.frag_offset'], 1480);
  t.false('udp.src_port' in tb);
  t.is(tb.payload, '010203040506070809');
});

test('ICMP echo, UDP-Lite, and a malformed option', (t) => {
  const echo = ipv4.emit({ tos: 0, id: 0, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: 1, src: SRC, dst: DST, options: fromHex('0701ffff') },
    icmp.emit({ type: 8, code: 0, id: 5, seq: 6 }, Uint8Array.of(0x61)));
  const fs = fieldsOf(echo);
  assertCovers(t, echo, fs);
  t.like(table(fs), { 'ip.options[0].type': 7, 'ip.options[0].length': 1, 'ip.options[0].data': 'ffff', 'icmp.type': 8, 'icmp.code': 0, 'icmp.id': 5, 'icmp.seq': 6, payload: '61' });
  const seg = udp.emit({ srcPort: 1, dstPort: 2, coverage: 8 }, Uint8Array.of(3));
  const lite = ipv4.emit({ tos: 0, id: 0, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: 136, src: SRC, dst: DST, options: new Uint8Array() }, seg);
  t.like(table(fieldsOf(lite)), { 'udplite.src_port': 1, 'udplite.coverage': 8, payload: '03' });
});

test('truncated and padded buffers are still fully named', (t) => {
  const short = fromHex(FIXTURE_UDP).subarray(0, 13);
  const fs = fieldsOf(short);
  assertCovers(t, short, fs);
  t.is(fs.at(-1)!.name, 'ip.truncated');
  const padded = fromHex(FIXTURE_UDP + 'eeee');
  const pf = fieldsOf(padded);
  assertCovers(t, padded, pf);
  t.like(table(pf), { payload: '00010203', trailer: 'eeee' });
  const cut = fromHex(FIXTURE_UDP).subarray(0, 25); // UDP header cut mid-length field
  const cf = fieldsOf(cut);
  assertCovers(t, cut, cf);
  t.like(table(cf), { 'udp.dst_port': 7000, payload: '00' });
});

// RFC 791/768 by hand (checksums from a separate Python sum): 198.18.0.1 >
// 198.18.0.2 id 0x1234 DF ttl 64 UDP 40000 > 7000 len 12, payload 00 01 02 03.
const FIXTURE_UDP = '450000201234400040119c71c6120001c6120002' + '9c401b58000cba11' + '00010203';
