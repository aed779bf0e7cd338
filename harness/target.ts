/**
 * Every place a case can run (the host kernel in a throwaway netns, a Docker
 * container, a QEMU guest, a remote machine over SSH) behind one interface.
 */
import type { Program, RunInputs } from '../model/program.js';
import type { ObservedResult } from '../model/result.js';

export interface TargetInfo {
  /** `uname -r` of the kernel under test: selects the model's version profile. */
  release: string;
  /**
   * A more precise release for the profile, where the target knows one: a Debian
   * ABI name (6.1.0-50-cloud-amd64) names no point release, `uname -v` does (6.1.176).
   */
  profileRelease?: string;
  /** Free-form facts for the report ("KVM", "TCG", the image, the host). */
  details: Record<string, string>;
  /** Run inputs that hold for every case on this kernel (from its config: `max_header`); added to each observation's. */
  inputs?: { max_header?: number };
}

/** One captured frame, as it left tx (link-layer header included), with its capture time. */
export interface CapturedFrame {
  /** Microseconds since the epoch. */
  tsUs: number;
  /** Link type of `data` (1 = Ethernet). */
  linktype: number;
  data: Uint8Array;
  /** The frame's length on the wire where the capture reports it (pcap `orig_len`); cap does not. */
  origLen?: number;
}

export interface Observation {
  /** The observed result; `packets` holds the IPv4 datagrams (link header stripped). */
  result: ObservedResult;
  /** Everything captured for this case, for the run's pcap. */
  frames: CapturedFrame[];
  /** Capture-time in ms since 00:00 UTC of the case's first packet (to judge IP timestamps). */
  captureMsOfDay: number | null;
  /** A fault of the harness or lab, not of the kernel: the case gets verdict `error`. */
  harnessError?: string;
}

export interface Target {
  readonly name: string;
  start(): Promise<TargetInfo>;
  runCase(program: Program): Promise<Observation>;
  /** Frames libpcap dropped so far (a run with drops is invalid). */
  drops(): number;
  /** Idempotent; must leave nothing behind (namespaces, processes, interfaces). */
  close(): Promise<void>;
}

/** The run-time values an observation hands the model (case-format.md, "Comparing"). */
export function predictInputs(obs: Observation): Partial<RunInputs> {
  const i = obs.result.inputs;
  const inputs: Partial<RunInputs> = {};
  if (i?.sport !== undefined) inputs.sport = i.sport;
  if (i?.tx_ifindex !== undefined) inputs.txIfindex = i.tx_ifindex;
  if (i?.tx_gso_udp_l4 !== undefined) inputs.txGsoUdpL4 = i.tx_gso_udp_l4;
  if (i?.max_header !== undefined) inputs.maxHeader = i.max_header;
  return inputs;
}

/** The target's own run inputs (TargetInfo.inputs) join the observation's, which win. */
export function withTargetInputs(obs: Observation, info: TargetInfo): Observation {
  if (!info.inputs || Object.keys(info.inputs).length === 0) return obs;
  obs.result.inputs = { ...info.inputs, ...obs.result.inputs };
  return obs;
}

/** The release the model's profile is chosen by: the precise one when the target knows it. */
export function profileRelease(info: TargetInfo): string {
  return info.profileRelease ?? info.release;
}

/** Cases one at a time, in call order: a target's probe runs one case at a time; `idle()` waits out the last. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(f: () => Promise<T>): Promise<T> {
    const r = this.tail.then(f);
    this.tail = r.catch(() => {});
    return r;
  }

  async idle(): Promise<void> {
    await this.tail;
  }
}
