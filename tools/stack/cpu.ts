/**
 * CPU time per process of the local stack, from /proc: what each process
 * (Kafka, daprd, the functions, the Cosmos server) spent during a run, so a
 * cost shows where it lives.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

let ticksPerSecond: number | undefined;
const clockTicks = (): number => {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
};

/** CPU seconds (user + system) the process has used so far; undefined once it is gone. */
export const cpuSecondsOf = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces; the fields after it are space-separated.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  } catch {
    return undefined;
  }
};

/** Resident set size of the process in bytes; undefined once it is gone. */
export const rssBytesOf = (pid: number): number | undefined => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
};

/**
 * CPU seconds per named process between start() and read(). Processes that
 * come and go in between (a restarted consumer) count from when they were first seen.
 */
export class CpuMeter {
  private readonly start = new Map<string, { pid: number; cpu: number }>();
  private readonly used = new Map<string, number>();

  constructor(private readonly processes: () => { name: string; pid: number }[]) {}

  /** Takes the starting figures; call again to start over. */
  begin(): void {
    this.start.clear();
    this.used.clear();
    this.poll();
  }

  /** Notes processes started since (call now and then during a run that restarts processes). */
  poll(): void {
    for (const { name, pid } of this.processes()) {
      const key = `${name}#${pid}`;
      const cpu = cpuSecondsOf(pid);
      if (cpu === undefined) continue;
      const first = this.start.get(key);
      if (!first) this.start.set(key, { pid, cpu });
      else this.used.set(key, cpu - first.cpu);
    }
  }

  /** CPU seconds used per process name since begin(). */
  read(): Record<string, number> {
    this.poll();
    const byName: Record<string, number> = {};
    for (const [key, seconds] of this.used) {
      const name = key.slice(0, key.lastIndexOf("#"));
      byName[name] = (byName[name] ?? 0) + seconds;
    }
    return byName;
  }
}

/** One process's resident memory over a run: first, highest and last sample, and the growth from first to last. */
export interface RssSeries {
  samples: number;
  firstMiB: number;
  maxMiB: number;
  lastMiB: number;
  growthMiB: number;
  /** Growth between the mean of the second quarter and the mean of the last quarter of the samples, per minute. */
  lateGrowthMiBPerMin: number;
}

/**
 * RSS of every live process of the stack, sampled every `intervalMs` (a process
 * restarted meanwhile starts a new series under its pid), for soak runs.
 */
export class RssSampler {
  private readonly series = new Map<string, { name: string; points: { at: number; bytes: number }[] }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly processes: () => { name: string; pid: number }[],
    private readonly intervalMs = 5_000,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  sample(): void {
    const at = Date.now();
    for (const { name, pid } of this.processes()) {
      const bytes = rssBytesOf(pid);
      if (bytes === undefined) continue;
      const key = `${name}#${pid}`;
      const s = this.series.get(key) ?? { name, points: [] };
      s.points.push({ at, bytes });
      this.series.set(key, s);
    }
  }

  /** Stops sampling; the series per process (named `name`, or `name#pid` for the later lives of a restarted one). */
  stop(): Record<string, RssSeries> {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    const mib = (b: number) => b / 1024 / 1024;
    const mean = (points: { bytes: number }[]) => points.reduce((s, p) => s + p.bytes, 0) / Math.max(1, points.length);
    const out: Record<string, RssSeries> = {};
    for (const [key, { name, points }] of this.series) {
      if (points.length === 0) continue;
      const quarter = Math.max(1, Math.floor(points.length / 4));
      const second = points.slice(quarter, 2 * quarter);
      const lastQ = points.slice(points.length - quarter);
      const minutes = (mid(lastQ) - mid(second)) / 60_000;
      out[out[name] ? key : name] = {
        samples: points.length,
        firstMiB: mib(points[0]!.bytes),
        maxMiB: mib(Math.max(...points.map((p) => p.bytes))),
        lastMiB: mib(points[points.length - 1]!.bytes),
        growthMiB: mib(points[points.length - 1]!.bytes - points[0]!.bytes),
        lateGrowthMiBPerMin: second.length > 0 && minutes > 0 ? mib(mean(lastQ) - mean(second)) / minutes : 0,
      };
    }
    return out;
  }
}

const mid = (points: { at: number }[]): number => (points.length ? (points[0]!.at + points[points.length - 1]!.at) / 2 : 0);
