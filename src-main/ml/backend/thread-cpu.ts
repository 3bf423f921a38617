// CPU time of the calling thread, for measurements that must not depend on how busy the machine is
// (wall-clock speed-ups from extra threads are meaningless while other jobs hold the cores).
import { readFileSync } from 'node:fs'

const TICKS_PER_SECOND = 100 // Linux USER_HZ; /proc reports thread times in these ticks

/**
 * User + system CPU milliseconds used so far by the calling thread (main or worker), from Linux's
 * /proc/thread-self/stat (10 ms resolution). NaN where that file does not exist.
 */
export function threadCpuMs(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8')
    // fields after the ")" closing the thread name: state is field 3, utime 14, stime 15
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(fields[14 - 3])
    const stime = Number(fields[15 - 3])
    return ((utime + stime) * 1000) / TICKS_PER_SECOND
  } catch {
    return Number.NaN
  }
}
