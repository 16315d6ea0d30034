/**
 * CPU and memory of another process, from /proc: run time of all threads and the peak
 * resident set (VmHWM). The peak can be reset through clear_refs (Linux ≥ 4.0, needs to own
 * the process or be root), so each benchmark cell reports its own peak.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let ticksPerSecond: number | undefined;

/** USER_HZ; 100 on every Linux/x86 build, but ask rather than assume. */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU time the process has used so far, µs (10 ms granularity), in user and kernel mode. */
export function cpuTimes(pid: number): { user: number; system: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses: fields count from the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const tick = 1e6 / clockTicks();
  return { user: Number(rest[11]) * tick, system: Number(rest[12]) * tick };
}

/**
 * CPU time (user + system) the process has used so far, µs. utime + stime tick at 10 ms, too
 * coarse for short cells, so the run time the scheduler keeps per thread (schedstat, ns) is
 * summed when the kernel offers it; threads that already exited are not counted (Node's
 * threads live as long as the process).
 */
export function cpuMicros(pid: number): number {
  try {
    let ns = 0;
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread ended between readdir and read
      }
    }
    if (ns > 0) return ns / 1000;
  } catch {
    // no /proc/<pid>/task or no schedstat: fall back to the tick counters
  }
  const t = cpuTimes(pid);
  return t.user + t.system;
}

function statusKb(pid: number, key: string): number {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Peak resident set size since start or the last resetPeakRss, KiB. */
export function peakRssKb(pid: number): number {
  return statusKb(pid, 'VmHWM');
}

/** Resets VmHWM to the current RSS; false when the kernel or our privileges do not allow it. */
export function resetPeakRss(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
