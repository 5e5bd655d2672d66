import CForkHazard

/// Reads another process's memory with `process_vm_readv`: no stop, no ptrace attach. Needs the
/// same permission as ptrace (PTRACE_MODE_ATTACH); returns nil when denied or unmapped.
struct RemoteMemory: Sendable {
    let pid: Int32

    func bytes(at address: UInt64, count: Int) -> [UInt8]? {
        guard address != 0, count > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { fh_read_memory(pid, address, $0.baseAddress, count) }
        return n == count ? buffer : nil
    }

    func u32(at address: UInt64) -> UInt32? {
        bytes(at: address, count: 4).map { Self.littleEndian($0[0..<4]) }
    }

    func u64(at address: UInt64) -> UInt64? {
        bytes(at: address, count: 8).map { Self.littleEndian($0[0..<8]) }
    }

    /// A `struct timespec` (or `timeval`, with `nanosPerUnit` 1000) as seconds.
    func timespec(at address: UInt64, nanosPerUnit: Double = 1) -> Double? {
        guard let raw = bytes(at: address, count: 16) else { return nil }
        let seconds = Int64(bitPattern: Self.littleEndian(raw[0..<8]))
        let fraction = Int64(bitPattern: Self.littleEndian(raw[8..<16]))
        return Double(seconds) + Double(fraction) * nanosPerUnit / 1e9
    }

    static func littleEndian<T: FixedWidthInteger>(_ slice: ArraySlice<UInt8>) -> T {
        slice.reversed().reduce(T(0)) { $0 << 8 | T($1) }
    }
}
