import test from 'ava';
import { CAP_SNAPLEN } from '../capture.js';
import type { CaseRun } from '../probe/protocol.js';
import type { CapturedFrame } from '../target.js';
import { buildObservation } from './lab-capture.js';

const run: CaseRun = { results: { socket: { ret: 3 }, setsockopt: [], sends: [{ ret: 538 }] }, sport: null, txIfindex: 3 };

/** An Ethernet frame of `len` bytes holding an IPv4 header whose total length says `totLen`. */
function frame(len: number, totLen: number, origLen?: number): CapturedFrame {
  const data = new Uint8Array(len);
  data[12] = 0x08; // ethertype IPv4
  data[14] = 0x45;
  data[16] = totLen >> 8;
  data[17] = totLen & 0xff;
  return { tsUs: 1_700_000_000_000_000, linktype: 1, data, ...(origLen === undefined ? {} : { origLen }) };
}

test('buildObservation: a whole frame whose IPv4 total length claims more is observed as the kernel wrote it (a raw IP_HDRINCL header)', (t) => {
  const obs = buildObservation('c', run, [frame(14 + 538, 17165)]);
  t.is(obs.harnessError, undefined);
  t.is(obs.result.packets.length, 1);
  t.is(obs.result.packets[0]!.hex.length, 538 * 2);
  // tcpdump's record says the same length: still whole.
  t.is(buildObservation('c', run, [frame(14 + 538, 17165, 14 + 538)]).harnessError, undefined);
});

test('buildObservation: a frame the capture cut (pcap orig_len longer, or exactly cap\'s snaplen) is a harness error, never compared', (t) => {
  t.regex(buildObservation('c', run, [frame(1514, 3000, 3014)]).harnessError ?? '', /IPv4 packet 0 cut by the capture: total length 3000, captured 1500/);
  t.regex(buildObservation('c', run, [frame(CAP_SNAPLEN, 65535)]).harnessError ?? '', /cut by the capture: total length 65535, captured 65521/);
});
