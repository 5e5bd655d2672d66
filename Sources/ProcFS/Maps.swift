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
        // address perms offset dev inode [path]; the path may contain spaces.
        var fields: [Substring] = []
        var rest = line[...]
        for _ in 0..<5 {
            rest = rest.drop(while: { $0 == " " })
            guard let space = rest.firstIndex(of: " ") ?? (rest.isEmpty ? nil : rest.endIndex) else { return nil }
            fields.append(rest[..<space])
            rest = rest[space...]
        }
        let range = fields[0].split(separator: "-")
        guard range.count == 2, let start = hex(range[0]), let end = hex(range[1]),
              let offset = hex(fields[2]), let inode = UInt64(fields[4])
        else { return nil }
        self.start = start
        self.end = end
        self.permissions = String(fields[1])
        self.offset = offset
        self.device = String(fields[3])
        self.inode = inode
        self.path = rest.trimmingLeadingSpaces
    }

    public static func parseAll(_ text: String) -> [MemoryMapping] {
        text.split(separator: "\n").compactMap { MemoryMapping(parsing: $0) }
    }
}
