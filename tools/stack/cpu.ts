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
