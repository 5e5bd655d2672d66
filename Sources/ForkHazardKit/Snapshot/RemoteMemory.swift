import Syscalls

/// Reads another process's memory with `process_vm_readv`: no stop, no ptrace attach. Needs the
/// same permission as ptrace (PTRACE_MODE_ATTACH); returns nil when denied or unmapped.
struct RemoteMemory: Sendable {
    let pid: Int32

    func bytes(at address: UInt64, count: Int) -> [UInt8]? {
        guard address != 0, count > 0 else { return nil }
        // Not zero-filled first: all of it is read, or none of it is kept.
        var n = 0
        let buffer = [UInt8](unsafeUninitializedCapacity: count) { raw, initialized in
            n = (try? SystemCalls.readMemory(pid: pid, at: address, into: UnsafeMutableRawBufferPointer(raw))) ?? 0
            initialized = n == count ? count : 0
        }
        return n == count ? buffer : nil
    }

    static func littleEndian<T: FixedWidthInteger>(_ slice: ArraySlice<UInt8>) -> T {
        slice.reversed().reduce(T(0)) { $0 << 8 | T($1) }
    }
}
