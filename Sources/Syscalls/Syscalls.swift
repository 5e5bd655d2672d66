import Glibc

/// A failed system call's errno, as a value: thrown (typed) by the wrappers in `SystemCalls`.
public struct Errno: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var code: Int32

    public init(_ code: Int32) {
        self.code = code
    }

    public static let interrupted = Errno(EINTR)
    public static let noSuchProcess = Errno(ESRCH)
    public static let notPermitted = Errno(EPERM)
    public static let noChild = Errno(ECHILD)
    public static let timedOut = Errno(ETIMEDOUT)

    public var description: String { String(cString: strerror(code)) }
}

/// The system calls the tool makes on other processes and on its own children, one wrapper each:
/// a failure is a thrown `Errno`, and a call a signal interrupts (EINTR; the tool's handlers are
/// installed without SA_RESTART) is made again inside, so that no caller has to.
public enum SystemCalls {
    /// Makes `call` (a libc call: a result below 0 is a failure with errno set) until it does not
    /// fail with EINTR. `errno` is read right after the call, before anything else can set it.
    public static func retrying<R: BinaryInteger>(_ call: () -> R) throws(Errno) -> R {
        while true {
            let result = call()
            if result >= 0 { return result }
            let code = errno
            if code != EINTR { throw Errno(code) }
        }
    }

    /// Makes `call` (a shim that returns 0 or more, or -errno) until it does not fail with EINTR.
    public static func retryingNegated(_ call: () -> Int32) throws(Errno) -> Int32 {
        while true {
            let result = call()
            if result >= 0 { return result }
            if result != -EINTR { throw Errno(-result) }
        }
    }

    /// `process_vm_readv` of one range: copies up to `buffer.count` bytes at `address` in process
    /// `pid` into `buffer` without stopping or signalling it, and returns how many it copied (fewer
    /// when the range runs into an unmapped page). Needs the permission ptrace would
    /// (PTRACE_MODE_ATTACH).
    public static func readMemory(pid: Int32, at address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        guard let call = processVMReadv else { throw Errno(ENOSYS) }
        var local = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
        var remote = iovec(iov_base: UnsafeMutableRawPointer(bitPattern: UInt(address)), iov_len: buffer.count)
        return try retrying { call(pid, &local, 1, &remote, 1, 0) }
    }

    typealias ProcessVMReadv = @convention(c) (
        pid_t, UnsafePointer<iovec>?, UInt, UnsafePointer<iovec>?, UInt, UInt
    ) -> Int

    /// glibc's `process_vm_readv`, which Swift's Glibc module does not declare (it needs
    /// `_GNU_SOURCE`): looked up once by name.
    static let processVMReadv: ProcessVMReadv? = {
        // glibc: a nil handle is RTLD_DEFAULT.
        guard let symbol = dlsym(nil, "process_vm_readv") else { return nil }
        return unsafeBitCast(symbol, to: ProcessVMReadv.self)
    }()

    /// `poll` on `fds` (none: a plain sleep) for at most `timeoutMillis` (negative: no limit);
    /// how many have events. Interrupted, it polls again for the time that is left.
    @discardableResult
    public static func poll(_ fds: inout [pollfd], timeoutMillis: Int32) throws(Errno) -> Int {
        let deadline = timeoutMillis < 0 ? nil : monotonicMillis() + Int64(timeoutMillis)
        var timeout = timeoutMillis
        while true {
            let count = fds.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, nfds_t($0.count), timeout) }
            if count >= 0 { return Int(count) }
            let code = errno
            if code != EINTR { throw Errno(code) }
            if let deadline { timeout = Int32(max(0, deadline - monotonicMillis())) }
        }
    }

    /// Sends `signal` to process `pid` (0: only checks that it exists and may be signalled).
    public static func kill(_ pid: Int32, _ signal: Int32) throws(Errno) {
        _ = try retrying { Glibc.kill(pid, signal) }
    }

    /// `waitpid`: the child that changed state and its wait status; with WNOHANG, PID 0 while
    /// none has.
    public static func waitpid(_ pid: Int32, options: Int32) throws(Errno) -> (pid: Int32, status: Int32) {
        var status: Int32 = 0
        let changed = try retrying { Glibc.waitpid(pid, &status, options) }
        return (changed, status)
    }

    static func monotonicMillis() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
