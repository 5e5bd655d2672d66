/// The content of `/proc/PID/task/TID/syscall`.
public enum SyscallState: Equatable, Sendable {
    /// The single word `running`: the thread is runnable or on a CPU.
    case running
    /// `-1 sp pc`: blocked or stopped outside a system call (a page fault, a ptrace stop).
    case notInSyscall(sp: UInt64, pc: UInt64)
    /// `NR a0 … a5 sp pc`: blocked in system call `number`.
    case inSyscall(number: Int, args: [UInt64], sp: UInt64, pc: UInt64)

    public init?(parsing text: String) {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        if words.count == 1, words[0] == "running" {
            self = .running
            return
        }
        guard let first = words.first, let number = Int(first) else { return nil }
        let rest = words.dropFirst().map { hex($0) }
        guard !rest.contains(nil) else { return nil }
        let values = rest.map { $0! }
        if number == -1 {
            guard values.count == 2 else { return nil }
            self = .notInSyscall(sp: values[0], pc: values[1])
        } else {
            guard values.count == 8 else { return nil }
            self = .inSyscall(number: number, args: Array(values[0..<6]), sp: values[6], pc: values[7])
        }
    }
}

/// Parses `0x1f` or `1f` as hexadecimal.
func hex<S: StringProtocol>(_ text: S) -> UInt64? {
    let digits = text.hasPrefix("0x") ? String(text.dropFirst(2)) : String(text)
    return UInt64(digits, radix: 16)
}

/// Machine architectures whose system call numbers the tool knows.
public enum Architecture: String, Codable, Sendable, CaseIterable {
    case x86_64
    case aarch64

    /// The architecture this program was built for.
    public static var host: Architecture {
        #if arch(arm64)
        return .aarch64
        #else
        return .x86_64
        #endif
    }
}

/// System call names by number, per architecture, from the kernel's UAPI headers.
public enum SyscallNames {
    public static func name(_ number: Int, on arch: Architecture) -> String? {
        switch arch {
        case .x86_64: return x86_64[number]
        case .aarch64: return aarch64[number]
        }
    }

    /// The number of a named system call on `arch`, if it exists there.
    public static func number(_ name: String, on arch: Architecture) -> Int? {
        let table = arch == .x86_64 ? x86_64 : aarch64
        return table.first(where: { $0.value == name })?.key
    }
}
