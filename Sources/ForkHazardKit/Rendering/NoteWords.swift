import Glibc
import PythonRuntime

extension SnapshotNote {
    /// The line a report's notes show: `2201: stacks not taken for 3 of 3 threads: ptrace not permitted (…)`.
    public var words: String {
        switch self {
        case .threadOfProcess(let tid, let process):
            return "\(tid) is a thread of process \(process); showing process \(process)"
        case .executableDenied(let pid):
            return "\(pid): exe: permission denied"
        case .unreadableSyscallState(let pid, let tid, let text):
            return "\(pid)/\(tid): unreadable syscall state \(text.debugDescription)"
        case .waitsDenied(let pid, let files):
            return "\(pid): \(files.joined(separator: ", ")): permission denied, so waits are unknown (\(Permission.hint))"
        case .pythonNotRead(let pid, let why):
            return "\(pid): Python frames not read: \(why.words)"
        case .stacksNotPermitted(let pid, let notTaken, let threads, let why):
            return "\(pid): stacks not taken for \(notTaken) of \(plural(threads, "thread", "threads")): \(why.words)"
        case .stacksNotTaken(let pid, let tids, let why):
            return "\(pid): stack not taken for \(tids.count == 1 ? "thread" : "threads") "
                + "\(tids.map(String.init).joined(separator: ", ")): \(why.words)"
        case .framesUnnamed(let pid, let path, let problem):
            return "\(pid): frames in \(path) left unnamed: \(problem.words)"
        case .asyncioIncomplete(let pid, let what):
            return "\(pid): asyncio tasks read in part: " + what.prefix(4).joined(separator: "; ") + (what.count > 4 ? "; …" : "")
        case .unixPeersUnavailable:
            return "unix socket peers unavailable: the sock_diag netlink query failed"
        case .fdsUnreadable(let count):
            return "the fds of \(count) processes could not be read (permission denied): pipe and socket peers may be "
                + "incomplete, so no wait on a pipe or socket is called stuck"
        }
    }
}

extension PythonNotRead {
    var words: String {
        let known = "forkhazard reads CPython \(PythonRuntime.supportedRange), whose runtime state is the symbol _PyRuntime"
        switch self {
        case .olderVersion(let version):
            return "its files are those of CPython \(version), which keeps its interpreter state elsewhere; \(known)"
        case .noRuntime:
            return "no _PyRuntime in its executable or libraries (not CPython, or a build without that symbol); \(known)"
        case .failed(let error):
            return "\(error)"
        }
    }
}

extension StackFailure {
    var words: String {
        switch self {
        case .notPermitted(let code): return "ptrace not permitted (\(String(cString: strerror(code))); \(Permission.hint))"
        case .exited: return "the thread exited"
        case .uninterruptible: return "it sleeps uninterruptibly in the kernel (state D), where a stop would wait for it to wake"
        case .didNotStop(let millis): return "it did not stop within \(millis) ms; it is released as soon as it stops, or when forkhazard exits"
        case .failed(let step, let code): return "\(step) failed (\(String(cString: strerror(code))))"
        }
    }
}

extension ModuleProblem {
    var words: String {
        switch self {
        case .noReadableCopy(let deleted):
            return "no readable copy of it"
                + (deleted ? " (deleted since it was mapped, and its mapped file cannot be opened)" : " in the process's root")
        case .otherBuildID(let file, let onDisk, let inMemory):
            let own = onDisk.map { "has build-id \(hexString($0))" } ?? "has no build-id"
            return "\(file) \(own), the process's mapped copy \(inMemory.map(hexString) ?? "none"): another file at the same path"
        case .firstPageDiffers(let file):
            return "\(file) differs from the process's mapped copy (first page; neither has a build-id)"
        case .noMappedStart(let file):
            return "\(file) cannot be checked: the process has no mapping of the file's start, where its build-id is"
        case .pagesUnreadable(let file):
            return "\(file) cannot be checked: neither it nor the mapped copy has a build-id, and their first page cannot be compared"
        case .noHeaderInMemory(let file, let mapped):
            return "\(file) cannot be checked: the process's memory holds no readable ELF header at \(mapped)'s start"
        }
    }
}

/// Lowercase hex of bytes.
private func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}
