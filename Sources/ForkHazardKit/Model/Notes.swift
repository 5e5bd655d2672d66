import PythonRuntime

/// Something a snapshot could not read, and why: a value, worded by the renderers
/// (`Rendering/NoteWords.swift`).
public enum SnapshotNote: Sendable, Equatable {
    /// A PID asked about is a thread of another process, which is shown instead.
    case threadOfProcess(tid: Int32, process: Int32)
    /// Its `exe` link was refused.
    case executableDenied(pid: Int32)
    /// A thread's `syscall` file said something that does not parse.
    case unreadableSyscallState(pid: Int32, tid: Int32, text: String)
    /// Its threads' files (`syscall`, …) were refused, so their waits are unknown.
    case waitsDenied(pid: Int32, files: [String])
    /// It looks like Python, but its interpreter could not be read.
    case pythonNotRead(pid: Int32, PythonNotRead)
    /// ptrace was refused for one of its threads, and so for all of them: `notTaken` of `threads`.
    case stacksNotPermitted(pid: Int32, notTaken: Int, threads: Int, StackFailure)
    /// Some of its threads' stacks could not be taken, for one reason.
    case stacksNotTaken(pid: Int32, tids: [Int32], StackFailure)
    /// Frames in one of its modules are left unnamed (`module+0x…`).
    case framesUnnamed(pid: Int32, path: String, ModuleProblem)
    /// Some of its asyncio tasks could not be read (a task list broken off, a task of an unknown
    /// layout): the tasks shown are those that could.
    case asyncioIncomplete(pid: Int32, [String])
    /// The sock_diag query for unix socket peers failed.
    case unixPeersUnavailable
    /// The fds of this many processes could not be read: pipe and socket peers may be incomplete.
    case fdsUnreadable(processes: Int)
}

/// Why a process's CPython interpreter was not read.
public enum PythonNotRead: Sendable, Equatable {
    /// Its files are named for a CPython older than 3.8 (or 2.x), which keeps its state elsewhere.
    case olderVersion(String)
    /// No `_PyRuntime` in its executable or libraries.
    case noRuntime
    case failed(PythonReadError)
}

/// Why a thread's stack was not taken.
public enum StackFailure: Sendable, Equatable {
    /// ptrace refused: another user's process, Yama, a container, or another tracer already.
    case notPermitted(errno: Int32)
    case exited
    /// In an uninterruptible sleep, where a stop would wait for it to wake.
    case uninterruptible
    /// It did not stop within this many milliseconds; it is released once it stops.
    case didNotStop(millis: Int32)
    case failed(step: String, errno: Int32)
}

/// Why a module's file was not used to name frames: it could not be found, or could not be shown
/// to be the file the process mapped.
public enum ModuleProblem: Sendable, Equatable {
    /// No readable copy in the process's root; `deleted`: it was deleted since it was mapped,
    /// and its mapped file cannot be opened.
    case noReadableCopy(deleted: Bool)
    /// The file found (`file`) and the mapped copy differ: their build-ids (nil: none), or their
    /// first page where neither has one.
    case otherBuildID(file: String, onDisk: [UInt8]?, inMemory: [UInt8]?)
    case firstPageDiffers(file: String)
    /// It cannot be checked: the process maps no start of the file, where its build-id is.
    case noMappedStart(file: String)
    /// It cannot be checked: neither has a build-id, and the first pages cannot be compared.
    case pagesUnreadable(file: String)
    /// It cannot be checked: the process's memory holds no readable ELF header at the start of `mapped`.
    case noHeaderInMemory(file: String, mapped: String)
}
