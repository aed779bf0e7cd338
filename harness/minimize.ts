/**
 * Minimisation of a failing case: delta debugging (ddmin-style chunk
 * removal, then greedy passes until a fixpoint) over the parts of a
 * `skbdiff-case/1` case: sends, setsockopt calls, cmsgs, sysctls, net fields
 * (back to the defaults one by one), payload sizes (halve, then bisect
 * toward the smallest size that still fails), iovec splits, flags, values.
 * A candidate is kept only when it is still a valid case (it reads back with
 * the strict reader and lowers) and `still` says the failure is still there.
 *
 * `still` runs on a kernel (each call one target run), so the number of calls
 * is bounded (`maxRuns`, default 200); the result says whether the bound cut
 * the search short.
 *
 * Intended CLI (wired in harness/cli.ts):
 *
 *   skbdiff minimize CASES.jsonl --id gen-7-123 [--kernel-profile 5.10] [--max-runs 200] > min.json
 *
 * which runs the case once, keeps its findings' keys (`findingKey`), and
 * minimises with `stillDiffers` on the same target.
 */
import type { Case, CmsgSpec, SendSpec, Value } from '../model/case.js';
import { DEFAULT_NET, LAB } from '../model/case.js';
import { readCases } from '../model/case-read.js';
import { lower } from '../model/lower.js';
import type { Program } from '../model/program.js';
import type { Profile } from '../model/profiles.js';
import { predict as modelPredict } from '../model/predict.js';
import type { Finding } from './diff.js';
import { judge, type PredictFn } from './run.js';
import type { Target } from './target.js';

export interface MinimizeOptions {
  /** Upper bound on calls of `still` (target runs). Default 200. */
  maxRuns?: number;
  /** Called after every accepted reduction. */
  onStep?: (c: Case, what: string) => void;
}

export interface MinimizeResult {
  case: Case;
  /** Reductions accepted. */
  steps: number;
  /** Calls of `still` made (target runs). */
  tried: number;
  /** True when `maxRuns` stopped the search before a fixpoint: the case may shrink further. */
  budgetExhausted: boolean;
  maxRuns: number;
}

/** Whether `c` is a valid case: it reads back with the strict reader and lowers. */
export function isValidCase(c: Case): boolean {
  try {
    const e = readCases(JSON.stringify(c), { file: '<minimize>', jsonl: false });
    if (e.length !== 1 || !e[0]!.ok) return false;
    lower(e[0]!.case);
    return true;
  } catch {
    return false;
  }
}

const clone = (c: Case): Case => JSON.parse(JSON.stringify(c)) as Case;

const payloadLen = (s: SendSpec): number => ('length' in s.payload ? s.payload.length : s.payload.hex.length / 2);

/** The iovec lengths cut to `n` bytes: a prefix of the list, its last entry trimmed. */
function fitIov(iov: number[] | null, n: number): number[] | null {
  if (iov === null) return null;
  const out: number[] = [];
  let left = n;
  for (const l of iov) {
    if (left === 0) break;
    out.push(Math.min(l, left));
    left -= Math.min(l, left);
  }
  return out.length ? out : null;
}

/** A send with its payload cut to `n` bytes (hex payloads keep their first n bytes). */
function withPayloadLen(s: SendSpec, n: number): SendSpec {
  const payload = 'length' in s.payload ? { length: n } : { hex: s.payload.hex.slice(0, 2 * n) };
  return { ...s, payload, iov: fitIov(s.iov, n) };
}

/** ddmin over a list: remove chunks of halving size; `min` items must stay. */
function* chunkRemovals<T>(xs: readonly T[], min: number): Generator<{ list: T[]; what: string }> {
  for (let size = Math.max(1, Math.floor(xs.length / 2)); size >= 1; size = size === 1 ? 0 : Math.max(1, Math.floor(size / 2))) {
    for (let at = 0; at + size <= xs.length; at += size) {
      if (xs.length - size < min) continue;
      yield { list: [...xs.slice(0, at), ...xs.slice(at + size)], what: size === 1 ? `[${at}]` : `[${at}..${at + size - 1}]` };
    }
  }
}

/** Simpler forms of a value: smaller in magnitude (0, 1, half) or fewer bytes. */
function simplerValues(v: Value): Value[] {
  const out: Value[] = [];
  const num = (k: 'int' | 'u8' | 'u16' | 'u32', x: number): void => {
    for (const y of [0, 1, Math.trunc(x / 2)]) if (Math.abs(y) < Math.abs(x) && !out.some((o) => k in o && (o as Record<string, number>)[k] === y)) out.push({ [k]: y } as Value);
  };
  if ('int' in v) num('int', v.int);
  else if ('u8' in v) num('u8', v.u8);
  else if ('u16' in v) num('u16', v.u16);
  else if ('u32' in v) num('u32', v.u32);
  else if ('hex' in v && v.hex.length > 0) {
    const n = v.hex.length / 2;
    for (const m of [0, Math.floor(n / 2), n - 1]) if (m < n && !out.some((o) => 'hex' in o && o.hex.length === 2 * m)) out.push({ hex: v.hex.slice(0, 2 * m) });
  }
  return out;
}

/**
 * Every one-step simplification of `c`, most drastic first. Each is a fresh
 * case with a note of what changed; validity is checked by the caller.
 */
export function* candidates(c: Case): Generator<{ case: Case; what: string }> {
  const mk = (f: (x: Case) => void, what: string): { case: Case; what: string } => {
    const x = clone(c);
    f(x);
    return { case: x, what };
  };
  // Sends, setsockopts, cmsgs (ddmin chunks).
  for (const r of chunkRemovals(c.sends, 1)) yield mk((x) => void (x.sends = clone({ ...c, sends: r.list }).sends), `drop sends${r.what}`);
  for (const r of chunkRemovals(c.socket.setsockopt, 0)) yield mk((x) => void (x.socket.setsockopt = r.list.map((o) => ({ ...o }))), `drop setsockopt${r.what}`);
  for (let i = 0; i < c.sends.length; i++) {
    for (const r of chunkRemovals(c.sends[i]!.cmsgs, 0)) yield mk((x) => void (x.sends[i]!.cmsgs = JSON.parse(JSON.stringify(r.list)) as CmsgSpec[]), `drop send ${i} cmsgs${r.what}`);
  }
  // Sysctls and net fields back to the defaults.
  for (const k of Object.keys(c.net.sysctl)) yield mk((x) => void delete x.net.sysctl[k], `drop sysctl ${k}`);
  if (c.net.mtu !== DEFAULT_NET.mtu) yield mk((x) => void (x.net.mtu = DEFAULT_NET.mtu), 'mtu to default');
  if (c.net.route_mtu !== null) yield mk((x) => void (x.net.route_mtu = null), 'no route mtu');
  if (c.net.offload.tx_checksum) yield mk((x) => void (x.net.offload.tx_checksum = false), 'tx_checksum off');
  if (c.net.offload.gso) yield mk((x) => void (x.net.offload.gso = false), 'gso off');
  // Socket endpoints.
  if (c.socket.connect) yield mk((x) => void (x.socket.connect = null), 'no connect');
  if (c.socket.bind) yield mk((x) => void (x.socket.bind = null), 'no bind');
  // Payloads: halve, then bisect (below).
  for (let i = 0; i < c.sends.length; i++) {
    const n = payloadLen(c.sends[i]!);
    if (n > 0) yield mk((x) => void (x.sends[i] = withPayloadLen(c.sends[i]!, Math.floor(n / 2))), `send ${i} payload ${n} -> ${Math.floor(n / 2)}`);
  }
  // iov, flags, cmsg_len overrides, destinations.
  for (let i = 0; i < c.sends.length; i++) {
    const s = c.sends[i]!;
    if (s.iov !== null) yield mk((x) => void (x.sends[i]!.iov = null), `send ${i} one iovec`);
    for (let f = 0; f < s.flags.length; f++) yield mk((x) => void x.sends[i]!.flags.splice(f, 1), `send ${i} drop flag ${String(s.flags[f])}`);
    for (let j = 0; j < s.cmsgs.length; j++) {
      if (s.cmsgs[j]!.cmsg_len !== undefined) yield mk((x) => void delete x.sends[i]!.cmsgs[j]!.cmsg_len, `send ${i} cmsg ${j} computed cmsg_len`);
    }
    if (s.to && (s.to.addr !== LAB.peerAddr || s.to.port !== 7000) && c.socket.type === 'dgram' && c.socket.protocol !== 'icmp') {
      yield mk((x) => void (x.sends[i]!.to = { addr: LAB.peerAddr, port: 7000 }), `send ${i} to the peer`);
    }
  }
  // Values.
  for (let i = 0; i < c.socket.setsockopt.length; i++) {
    for (const v of simplerValues(c.socket.setsockopt[i]!.value)) yield mk((x) => void (x.socket.setsockopt[i]!.value = v), `setsockopt ${i} value ${JSON.stringify(v)}`);
  }
  for (let i = 0; i < c.sends.length; i++) {
    for (let j = 0; j < c.sends[i]!.cmsgs.length; j++) {
      for (const v of simplerValues(c.sends[i]!.cmsgs[j]!.value)) yield mk((x) => void (x.sends[i]!.cmsgs[j]!.value = v), `send ${i} cmsg ${j} value ${JSON.stringify(v)}`);
    }
  }
}

/**
 * Shrinks `c` while `still` holds. Greedy: the first valid candidate that
 * still fails is taken and the candidates are drawn again from it, until a
 * whole round finds none (a fixpoint) or `maxRuns` calls are spent. After
 * each payload halving that still fails, the size is bisected between the
 * failing size and the half below it, so a threshold is hit exactly.
 * `still(c)` is never called for the input case itself (the caller knows it fails).
 */
export async function minimize(c: Case, still: (c: Case) => Promise<boolean>, opts: MinimizeOptions = {}): Promise<MinimizeResult> {
  const maxRuns = opts.maxRuns ?? 200;
  let cur = clone(c);
  let steps = 0;
  let tried = 0;
  const seen = new Set<string>([JSON.stringify(cur)]);
  const test = async (x: Case): Promise<boolean | null> => {
    const key = JSON.stringify(x);
    if (seen.has(key)) return false;
    seen.add(key);
    if (!isValidCase(x)) return false;
    if (tried >= maxRuns) return null;
    tried++;
    return still(x);
  };
  const accept = (x: Case, what: string): void => {
    cur = x;
    steps++;
    opts.onStep?.(cur, what);
  };

  let exhausted = false;
  outer: for (;;) {
    let progressed = false;
    for (const cand of candidates(cur)) {
      const ok = await test(cand.case);
      if (ok === null) {
        exhausted = true;
        break outer;
      }
      if (!ok) {
        // A payload that no longer fails at half size: bisect between half (passes) and full (fails).
        const m = /^send (\d+) payload (\d+) -> (\d+)$/.exec(cand.what);
        if (m) {
          const i = Number(m[1]);
          let hi = Number(m[2]);
          let lo = Number(m[3]);
          while (hi - lo > 1) {
            const mid = Math.floor((lo + hi) / 2);
            const x = clone(cur);
            x.sends[i] = withPayloadLen(cur.sends[i]!, mid);
            const r = await test(x);
            if (r === null) {
              exhausted = true;
              break outer;
            }
            if (r) {
              hi = mid;
              accept(x, `send ${i} payload -> ${mid}`);
              progressed = true;
            } else lo = mid;
          }
          if (progressed) continue outer;
        }
        continue;
      }
      accept(cand.case, cand.what);
      progressed = true;
      continue outer;
    }
    if (!progressed) break;
  }
  if (steps > 0) cur.about = `Minimised from ${c.id} in ${steps} steps (${tried} runs${exhausted ? ', run bound reached' : ''}); the original: ${c.about ?? '(no about)'}`;
  return { case: cur, steps, tried, budgetExhausted: exhausted, maxRuns };
}

// ---- the predicate for a real target ----

/**
 * What must stay for a case to count as "still failing the same way": the
 * finding's kind plus what names it without positions that shrink away
 * (packet and send indexes, return values): FieldMismatch by field name,
 * CallMismatch by call and outcome (an errno name or `ret`).
 */
export function findingKey(f: Finding): string {
  const outcome = (r: { ret: number } | { errno: string } | null): string => (r === null ? 'none' : 'errno' in r ? r.errno : 'ret');
  switch (f.kind) {
    case 'FieldMismatch':
      return `FieldMismatch ${f.field.replace(/\[\d+\]/g, '[]')}`;
    case 'CallMismatch':
      return `CallMismatch ${f.call} expected ${outcome(f.expected)} got ${outcome(f.got)}`;
    default:
      return f.kind;
  }
}

export type { PredictFn };

/**
 * A `still` predicate for `minimize`: runs the case on `target` (started
 * here if it is not yet; the caller closes it), predicts it with `profile`
 * and the run's inputs (as harness/run.ts does), diffs, and holds when every
 * key of `want` (findings of the original run, or their keys) is still among
 * the findings. A harness fault, an unmodelled feature or a model fault is
 * "not the same failure" (false).
 */
export function stillDiffers(target: Target, profile: Profile, want: ReadonlyArray<Finding | string>, predict: PredictFn = modelPredict): (c: Case) => Promise<boolean> {
  const keys = new Set(want.map((w) => (typeof w === 'string' ? w : findingKey(w))));
  if (keys.size === 0) throw new Error('stillDiffers: no findings to keep');
  let started: Promise<unknown> | null = null;
  return async (c: Case): Promise<boolean> => {
    started ??= target.start();
    await started;
    let program: Program;
    try {
      program = lower(c);
    } catch {
      return false;
    }
    const obs = await target.runCase(program);
    if (obs.harnessError !== undefined) return false;
    let findings: Finding[];
    try {
      findings = judge(program, obs, profile, predict).findings;
    } catch {
      return false;
    }
    const got = new Set(findings.map(findingKey));
    for (const k of keys) if (!got.has(k)) return false;
    return true;
  };
}
