import ProcFS
import PythonRuntime

/// The fourth stage, on a live host and before anything is stopped: the CPython interpreter of
/// every process whose mappings name one is located, one process per CPU at a time. Its threads'
/// frames are read later: a running thread's inside the stop for its stack (`Stacks`), the
/// others' after (`PythonFrames`).
struct Interpreters {
    func run(_ records: [ProcessRecord], notes: inout [SnapshotNote]) -> [ProcessRecord] {
        var records = records
        let indices = records.indices.filter { records[$0].snapshot.runtimes?.contains(.python) == true }
        let opened = parallelMap(indices.map { (pid: records[$0].snapshot.pid, maps: records[$0].maps) }) {
            PythonReader.open(pid: $0.pid, maps: $0.maps)
        }
        for (index, result) in zip(indices, opened) {
            let process = records[index].snapshot
            switch result {
            case .success(let python):
                records[index].python = python
                records[index].snapshot.python = python.info
            case .failure(.noInterpreter):
                notes.append(.pythonNotRead(pid: process.pid, Self.noRuntimeReason(exe: process.exe, maps: records[index].maps)))
            case .failure(let error):
                notes.append(.pythonNotRead(pid: process.pid, .failed(error)))
            }
        }
        return records
    }

    /// Why a process that looks like Python has no interpreter to read: the version its files
    /// are named for, where they say it.
    static func noRuntimeReason(exe: String?, maps: [MemoryMapping]) -> PythonNotRead {
        let names = ([exe].compactMap { $0 } + maps.map(\.path)).map { $0.split(separator: "/").last.map(String.init) ?? $0 }
        let version = names.lazy.compactMap { name -> String? in
            guard let range = name.firstRange(of: "python") else { return nil }
            let digits = name[range.upperBound...].prefix { $0.isNumber || $0 == "." }
            let parts = digits.split(separator: ".")
            return parts.count >= 2 ? "\(parts[0]).\(parts[1])" : nil
        }.first
        if let version, let minor = Int(version.split(separator: ".")[1]), version.hasPrefix("2.") || (version.hasPrefix("3.") && minor < 8) {
            return .olderVersion(version)
        }
        return .noRuntime
    }
}

/// The sixth stage: the frames of the Python threads the stack stage did not read (blocked ones,
/// which have released the GIL: their frames stand still and need no stop), one per CPU at a time.
struct PythonFrames {
    func run(_ records: [ProcessRecord]) -> [ProcessRecord] {
        var records = records
        let unread = records.indices.filter { records[$0].python != nil }.flatMap { index in
            records[index].snapshot.threads.indices.filter { records[index].snapshot.threads[$0].python == nil }.map { (index, $0) }
        }
        let inputs = unread.map { (reader: records[$0.0].python, thread: records[$0.0].snapshot.threads[$0.1]) }
        let frames = parallelMap(inputs) { reader, thread in reader?.thread(thread.tid, mayBeTorn: StackStage.isRunning(thread)) }
        for ((index, t), python) in zip(unread, frames) { records[index].snapshot.threads[t].python = python }
        return records
    }
}

/// The seventh stage: the asyncio loops and tasks of each Python process that has a thread in a
/// loop, with what they await, once its threads' frames are read; one process per CPU at a time. A loop that runs meanwhile may move
/// its tasks: each read is bounded and checked, and a task is as it was when read.
struct AsyncioTasks {
    func run(_ records: [ProcessRecord], notes: inout [SnapshotNote]) -> [ProcessRecord] {
        var records = records
        // Only where a thread is in an event loop's run_forever (asyncio/base_events.py): the
        // other Python processes cost nothing.
        let indices = records.indices.filter { index in
            records[index].python != nil && records[index].snapshot.threads.contains { thread in
                thread.python?.stack.contains { $0.file.hasSuffix("asyncio/base_events.py") } == true
            }
        }
        let found = parallelMap(indices.map { records[$0].python }) { $0?.asyncio() }
        for (index, asyncio) in zip(indices, found) {
            records[index].snapshot.python?.asyncio = asyncio?.info
            if let unread = asyncio?.unread, !unread.isEmpty { notes.append(.asyncioIncomplete(pid: records[index].snapshot.pid, unread)) }
        }
        return records
    }
}
