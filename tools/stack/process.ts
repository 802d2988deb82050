import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** A child process of the local stack: logs to a file, stops with its whole process group. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  readonly hasExited: () => boolean;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  /** Directory of pid files, so a later run can clean up after a crashed one. */
  pidDir: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * How the stack starts a TypeScript entry point with Node: through tsx, and
 * with a CPU profile per process written to STACK_CPU_PROFILE_DIR when set
 * (Node refuses --cpu-prof in NODE_OPTIONS).
 */
export const nodeArgs = (entry: string): string[] => {
  const profileDir = process.env["STACK_CPU_PROFILE_DIR"];
  return [...(profileDir ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : []), "--import", "tsx", entry];
};

const live = new Set<ManagedProcess>();

/** The processes this process started that still run (for CPU and memory figures). */
export const liveProcesses = (): { name: string; pid: number }[] => [...live].map((p) => ({ name: p.name, pid: p.pid }));

// Last resort if the parent dies without stopping its children (uncaught error, process.exit).
process.on("exit", () => {
  for (const p of live) killGroup(p.pid, "SIGKILL");
});

export const startProcess = (opts: StartOptions): ManagedProcess => {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  mkdirSync(opts.pidDir, { recursive: true });
  const fd = openSync(opts.logFile, "a");
  const child = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ["ignore", fd, fd],
    // Own process group: Ctrl-C in the terminal reaches only the runner, which stops children in order.
    detached: true,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${opts.name}: could not start ${opts.command}`);
  const pid = child.pid;
  const pidFile = join(opts.pidDir, `${opts.name}.pid`);
  writeFileSync(pidFile, JSON.stringify({ pid, command: opts.command }));

  let exitedWith: number | string | undefined;
  const exited = new Promise<number | string>((resolve) => {
    child.once("error", (err) => {
      exitedWith = String(err);
      resolve(exitedWith);
    });
    child.once("exit", (code, signal) => {
      exitedWith = code ?? signal ?? "unknown";
      resolve(exitedWith);
    });
  });
  exited.then(() => {
    live.delete(proc);
    rmSync(pidFile, { force: true });
  });

  const proc: ManagedProcess = {
    name: opts.name,
    pid,
    logFile: opts.logFile,
    exited,
    hasExited: () => exitedWith !== undefined,
    async stop(signal = "SIGTERM", graceMs = 10_000) {
      if (exitedWith !== undefined) return;
      killGroup(pid, signal);
      const timer = sleep(graceMs).then(() => "timeout" as const);
      if ((await Promise.race([exited, timer])) === "timeout") {
        killGroup(pid, "SIGKILL");
        await exited;
      }
    },
  };
  live.add(proc);
  return proc;
};

const killGroup = (pid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
};

/**
 * Kills processes a previous run left behind (it crashed or was killed), as
 * recorded in its pid files, if they still run the recorded command.
 */
export const reapStale = (pidDir: string): string[] => {
  if (!existsSync(pidDir)) return [];
  const reaped: string[] = [];
  for (const file of readdirSync(pidDir).filter((f) => f.endsWith(".pid"))) {
    const path = join(pidDir, file);
    try {
      const { pid, command } = JSON.parse(readFileSync(path, "utf8")) as { pid: number; command: string };
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmdline.split("\0")[0] === command) {
        killGroup(pid, "SIGKILL");
        reaped.push(`${file.replace(/\.pid$/, "")} (pid ${pid})`);
      }
    } catch {
      // no such process, or unreadable pid file
    }
    rmSync(path, { force: true });
  }
  return reaped;
};

export const tailOf = (file: string, lines = 25): string => {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
};

/**
 * Polls `check` until it returns true. Fails early, with the log's tail, if the
 * process it waits for has exited; fails with `what` on time-out.
 */
export const waitUntil = async (
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; process?: ManagedProcess } = {},
): Promise<void> => {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (opts.process?.hasExited()) {
      throw new Error(
        `${what}: ${opts.process.name} exited (${await opts.process.exited}); last lines of ${opts.process.logFile}:\n${tailOf(opts.process.logFile)}`,
      );
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      const log = opts.process ? `; last lines of ${opts.process.logFile}:\n${tailOf(opts.process.logFile)}` : "";
      throw new Error(`timed out waiting for ${what}${log}`);
    }
    await sleep(opts.intervalMs ?? 200);
  }
};

export const httpOk = (url: string) => async (): Promise<boolean> => {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await res.body?.cancel();
  return res.ok;
};

export const portOpen =
  (port: number, host = "127.0.0.1") =>
  (): Promise<boolean> =>
    new Promise((resolve) => {
      const socket = connect({ port, host });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });

const kernelFreePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });

/** Ports this process handed out: the kernel may offer a just-released port again before its user binds it. */
const handedOut = new Set<number>();

/** A port free right now on loopback, and not handed out before by this process. */
export const freePort = async (): Promise<number> => {
  for (;;) {
    const port = await kernelFreePort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
};

export const assertPortFree = async (port: number, what: string, fix: string): Promise<void> => {
  if (await portOpen(port)()) throw new Error(`${what}: port ${port} on 127.0.0.1 is already in use. ${fix}`);
};
