/**
 * `results.json`, the machine-readable record of one `skbdiff run`
 * (format `skbdiff-results/1`, documented in results/README.md). CI parses
 * it, so fields are only ever added, never renamed or removed; a change that
 * would break a reader gets a new format string.
 *
 * Findings are stored as data (harness/diff.ts `Finding`, with byte strings
 * as lowercase hex) and as the one-line renderings of harness/render.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Finding } from './diff.js';
import type { ExpectedResult, ObservedResult } from '../model/result.js';
import { toHex } from '../model/wire/error.js';

export const RESULTS_FORMAT = 'skbdiff-results/1';

/**
 * - `pass`: every return value, errno and packet byte matched (fields judged by rule obeyed their rule);
 * - `differ`: the kernel and the model disagree (see `findings`);
 * - `error`: no verdict on the kernel could be reached (`error.kind` says why).
 */
export type Verdict = 'pass' | 'differ' | 'error';

/**
 * - `malformed`: the case file entry does not parse or cannot be lowered;
 * - `unmodelled`: the model does not cover something the case uses (model/net/errors.ts `Unmodelled`);
 * - `model`: the model failed in another way (a bug in skbdiff);
 * - `harness`: the target or the comparison failed (a lab fault, not the kernel's);
 * - `interrupted`: the run was interrupted (SIGINT) before this case finished.
 */
export type ErrorKind = 'malformed' | 'unmodelled' | 'model' | 'harness' | 'interrupted';

/** `T` as it reads back from JSON: byte strings as hex strings. */
export type Jsonified<T> = T extends Uint8Array
  ? string
  : T extends Array<infer U>
    ? Array<Jsonified<U>>
    : T extends object
      ? { [K in keyof T]: Jsonified<T[K]> }
      : T;

export type FindingJson = Jsonified<Finding>;

export interface CaseRecord {
  /** The case id; null when the entry is too malformed to have one. */
  id: string | null;
  /** `file:line` where the case starts. */
  source: string;
  file: string;
  line: number;
  about?: string;
  verdict: Verdict;
  /** Present exactly when verdict is `error`. */
  error?: { kind: ErrorKind; message: string };
  /** The model's prediction (null if there is none). */
  expected: ExpectedResult | null;
  /** What the target observed (null if the case did not run). */
  observed: ObservedResult | null;
  /** Capture time of the case's first packet, ms since 00:00 UTC (judges IP timestamps). */
  capture_ms_of_day: number | null;
  /** The differences, as data; empty unless verdict is `differ`. */
  findings: FindingJson[];
  /** One line per finding (harness/render.ts `renderFinding`), same order. */
  rendered: string[];
  /** Frames of this case in observed.pcap (they follow the previous cases' frames, in case order). */
  frames: number;
  seconds: number;
}

export interface RunResults {
  format: typeof RESULTS_FORMAT;
  run_id: string;
  target: { name: string; release: string | null; details: Record<string, string> };
  /** The model profile the predictions used (model/profiles.ts); null if none could be chosen. */
  profile: { line: string; release: string } | null;
  /** ISO 8601 UTC. */
  started: string;
  ended: string;
  seconds: number;
  counts: { cases: number; pass: number; differ: number; error: number };
  /** Frames the capture dropped; a run with drops is invalid. */
  drops: number;
  /** False when the run cannot be trusted as a whole (capture drops, target failure). */
  valid: boolean;
  interrupted: boolean;
  /** The process exit status `skbdiff run` gave (0 pass, 1 differ, 2 error/invalid, 130 interrupted). */
  exit_code: number;
  /** Run-level problems, one sentence each (empty on a clean run). */
  problems: string[];
  cases: CaseRecord[];
}

/** Deep copy with every Uint8Array as lowercase hex (for findings, whose byte strings are Uint8Arrays). */
export function jsonify<T>(x: T): Jsonified<T> {
  const walk = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return toHex(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, w]) => [k, walk(w)]));
    return v;
  };
  return walk(x) as Jsonified<T>;
}

export function writeRunResults(path: string, r: RunResults): void {
  writeFileSync(path, JSON.stringify(r, null, 2) + '\n');
}

export class ResultsFormatError extends Error {
  override name = 'ResultsFormatError';
}

/**
 * Reads a results.json. Checks the format string and the top-level shape; the
 * per-case results inside are trusted as written by this version.
 */
export function readRunResults(path: string): RunResults {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ResultsFormatError(`${path}: not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ResultsFormatError(`${path}: expected a JSON object`);
  const o = v as Record<string, unknown>;
  if (o.format !== RESULTS_FORMAT) throw new ResultsFormatError(`${path}: $.format: expected ${JSON.stringify(RESULTS_FORMAT)}, got ${JSON.stringify(o.format)}`);
  for (const [k, t] of [['run_id', 'string'], ['counts', 'object'], ['cases', 'object'], ['exit_code', 'number'], ['valid', 'boolean']] as const) {
    if (typeof o[k] !== t) throw new ResultsFormatError(`${path}: $.${k}: expected a ${t === 'object' ? (k === 'cases' ? 'list' : 'object') : t}`);
  }
  if (!Array.isArray(o.cases)) throw new ResultsFormatError(`${path}: $.cases: expected a list`);
  return o as unknown as RunResults;
}
