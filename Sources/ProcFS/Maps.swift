/// One line of `/proc/PID/maps`.
public struct MemoryMapping: Equatable, Sendable {
    public var start: UInt64
    public var end: UInt64
    public var permissions: String
    public var offset: UInt64
    /// `major:minor` in hex, as the kernel prints it.
    public var device: String
    public var inode: UInt64
    /// A path, `[heap]`, `[stack]`, `/dev/shm/name (deleted)` …, or empty for anonymous memory.
    public var path: String

    /// `s` in the fourth permission column: the mapping is shared with other processes.
    public var isShared: Bool { permissions.count == 4 && permissions.last == "s" }

    public func contains(_ address: UInt64) -> Bool { address >= start && address < end }

    public init?(parsing line: Substring) {
        self.init(parsing: Array(line.utf8)[...])
    }

    /// Parses one line's bytes: this runs for every mapping of every process, so no String work
    /// but the path.
    public init?(parsing line: ArraySlice<UInt8>) {
        // address perms offset dev inode [path]; the path may contain spaces.
        var index = line.startIndex
        func field() -> ArraySlice<UInt8>? {
            while index < line.endIndex && line[index] == 32 { index += 1 }
            let start = index
            while index < line.endIndex && line[index] != 32 { index += 1 }
            return start < index ? line[start..<index] : nil
        }
        guard let range = field(), let permissions = field(), let offsetField = field(),
              let device = field(), let inodeField = field(),
              let dash = range.firstIndex(of: UInt8(ascii: "-")),
              let start = hexValue(range[..<dash]), let end = hexValue(range[(dash + 1)...]),
              let offset = hexValue(offsetField), let inode = decimalValue(inodeField)
        else { return nil }
        while index < line.endIndex && line[index] == 32 { index += 1 }
        self.start = start
        self.end = end
        self.permissions = String(decoding: permissions, as: UTF8.self)
        self.offset = offset
        self.device = String(decoding: device, as: UTF8.self)
        self.inode = inode
        self.path = String(decoding: line[index...], as: UTF8.self)
    }

    public static func parseAll(_ text: String) -> [MemoryMapping] {
        parseAll(Array(text.utf8))
    }

    public static func parseAll(_ bytes: [UInt8]) -> [MemoryMapping] {
        var mappings: [MemoryMapping] = []
        forEachLine(bytes) { line in
            if let mapping = MemoryMapping(parsing: line) { mappings.append(mapping) }
        }
        return mappings
    }

    /// Only the shared mappings (`s` in the permissions), the others passed over unparsed: a scan
    /// of every process on the host looks for these.
    public static func parseShared(_ bytes: [UInt8]) -> [MemoryMapping] {
        var mappings: [MemoryMapping] = []
        forEachLine(bytes) { line in
            // `start-end rwxs …`: the fourth permission follows the first space.
            guard let space = line.firstIndex(of: 32), space + 4 < line.endIndex, line[space + 4] == UInt8(ascii: "s"),
                  let mapping = MemoryMapping(parsing: line) else { return }
            mappings.append(mapping)
        }
        return mappings
    }

    /// Each non-empty line of `bytes`, without its newline.
    static func forEachLine(_ bytes: [UInt8], _ body: (ArraySlice<UInt8>) -> Void) {
        var start = bytes.startIndex
        while start < bytes.endIndex {
            let end = bytes[start...].firstIndex(of: 10) ?? bytes.endIndex
            if end > start { body(bytes[start..<end]) }
            start = end + 1
        }
    }

    /// The last component of `path`: `libc.so.6` for `/usr/lib/x86_64-linux-gnu/libc.so.6`.
    public var fileName: Substring { lastPathComponent(path) }

    /// Whether the mapped file is glibc's `libc.so.6` (or an old `libc-2.x.so`).
    public var isLibc: Bool { isLibcName(fileName) }
}

/// The last component of a path, `/` at its end ignored: `libc.so.6` for
/// `/usr/lib/x86_64-linux-gnu/libc.so.6`; a path without one is itself. Found in its bytes, as it
/// runs for every mapping of every process.
public func lastPathComponent(_ path: String) -> Substring {
    let slash = UInt8(ascii: "/")
    func component(_ bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var end = bytes.count
        while end > 0, bytes[end - 1] == slash { end -= 1 }
        guard end > 0 else { return nil }
        var start = end
        while start > 0, bytes[start - 1] != slash { start -= 1 }
        return start..<end
    }
    var path = path
    guard let range = path.withUTF8(component) else { return path[...] }
    let utf8 = path.utf8
    return path[utf8.index(utf8.startIndex, offsetBy: range.lowerBound)..<utf8.index(utf8.startIndex, offsetBy: range.upperBound)]
}

/// Whether a file name is glibc's C library: `libc.so.6`, or `libc-2.31.so` before glibc 2.34.
public func isLibcName(_ name: Substring) -> Bool {
    let bytes = name.utf8
    return bytes.starts(with: "libc.so".utf8) || (bytes.starts(with: "libc-".utf8) && bytes.reversed().starts(with: "os.".utf8))
}

/// A whole field of hex digits (no prefix).
func hexValue(_ bytes: ArraySlice<UInt8>) -> UInt64? {
    guard !bytes.isEmpty, bytes.count <= 16 else { return nil }
    var value: UInt64 = 0
    for byte in bytes {
        let digit: UInt8
        switch byte {
        case 48...57: digit = byte - 48
        case 97...102: digit = byte - 87
        case 65...70: digit = byte - 55
        default: return nil
        }
        value = value << 4 | UInt64(digit)
    }
    return value
}

/// A whole field of decimal digits.
func decimalValue(_ bytes: ArraySlice<UInt8>) -> UInt64? {
    guard !bytes.isEmpty, bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
    return decimalDigits(bytes)
}
