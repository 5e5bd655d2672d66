import CForkHazard
import Glibc
import ProcFS

/// One process as it goes through the snapshot's stages: what is known of it so far, and what
/// the later stages read it through.
struct ProcessRecord {
    var snapshot: ProcessSnapshot
    /// Its /proc files, fds and memory, read once and kept for the later stages.
    let reader: ProcessReader
    /// Its CPython interpreter, once located (`Interpreters`).
    var python: PythonReader?

    var maps: [MemoryMapping] { reader.maps }
}

extension Array where Element == ProcessRecord {
    /// Runs a stage that works on whole snapshots (peers, fork provenance) over the records.
    mutating func updateSnapshots(_ body: (inout [ProcessSnapshot]) -> Void) {
        var snapshots = map(\.snapshot)
        body(&snapshots)
        for index in indices { self[index].snapshot = snapshots[index] }
    }
}

/// The second stage: every process and its threads read from /proc, each thread's system call
/// decoded into a wait (`WaitDecoder`), one process per CPU at a time. Processes that vanished
/// meanwhile are left out.
struct FirstLook {
    let context: SharedContext
    let decoder: WaitDecoder
    let host: HostInfo

    func run(_ pids: [Int32], notes: inout [SnapshotNote]) -> [ProcessRecord] {
        let clock = Double(host.clockTicksPerSecond)
        let read = parallelMap(pids) { pid -> (record: ProcessRecord?, notes: [SnapshotNote]) in
            let reader = ProcessReader(pid: pid, shared: context)
            var notes: [SnapshotNote] = []
            let process = reader.read(decoder: decoder, bootTime: host.bootTime, ticksPerSecond: clock, notes: &notes)
            return (process.map { ProcessRecord(snapshot: $0, reader: reader) }, notes)
        }
        var records: [ProcessRecord] = []
        for (record, processNotes) in read {
            notes += processNotes
            if let record { records.append(record) }
        }
        // A vfork child or a posix_spawn in flight shares its parent's address space.
        if context.proc.isLive {
            let pids = Set(records.map(\.snapshot.pid))
            for index in records.indices {
                let process = records[index].snapshot
                if pids.contains(process.ppid), !process.isKernelThread, fh_same_memory(process.pid, process.ppid) == 1 {
                    records[index].snapshot.sharesMemoryWith = process.ppid
                }
            }
        }
        return records
    }
}

/// The third stage, right after the first look and before anything is stopped: each thread in an
/// untimed wait is looked at again, and is steady when it is in the same system call with the
/// same context switch counts (a woken thread is runnable at once, and its counts move).
struct SecondLook {
    /// A pause before it, for the cautious; by default none.
    let delay: Double

    func run(_ records: [ProcessRecord]) -> [ProcessRecord] {
        if delay > 0 { usleep(UInt32(min(delay, 60) * 1e6)) }
        var records = records
        for index in records.indices {
            for (t, thread) in records[index].snapshot.threads.enumerated() {
                guard let wait = thread.wait, wait.forever || wait.kind == .restarted else { continue }
                records[index].snapshot.threads[t].steady = records[index].reader.isSteady(thread.tid)
            }
        }
        return records
    }
}
