import Glibc
import ProcFS

// Small text helpers, so that the library needs only FoundationEssentials (the whole of Foundation
// costs several milliseconds of start-up). `trimmed` comes from ProcFS.

/// The last component of a path: `/usr/lib/libc.so.6` → `libc.so.6`.
public func fileName(of path: String) -> String {
    String(lastPathComponent(path))
}

/// `value` with one decimal: 2.25 → "2.3" (rounded half away from zero).
func oneDecimal(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(abs(tenths % 10))"
}

extension String {
    /// Whether `needle` occurs in the string, found in its bytes (`StringProtocol.contains`
    /// compares by Character and costs tens of thousands of instructions a call).
    func includes(_ needle: String) -> Bool {
        withCString { haystack in needle.withCString { strstr(haystack, $0) != nil } }
    }
}
