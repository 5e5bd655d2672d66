/// Where a resolved symbol's name came from.
public enum SymbolSource: Sendable, Hashable {
    /// The module's own `.symtab`.
    case symtab
    /// The `.symtab` of a separate debug file at the given path.
    case debugFile(String)
    /// The module's `.dynsym` (exported symbols only).
    case dynsym
}

/// The function an address resolved to.
public struct Symbol: Sendable, Hashable, CustomStringConvertible {
    /// The symbol name (not demangled).
    public var name: String
    /// Distance of the looked-up address from the symbol's start (`addr - value`).
    public var offset: UInt64
    /// The symbol's size in bytes (0 when the symbol table did not record one).
    public var size: UInt64
    /// The symbol's start address (`st_value`, a link-time virtual address).
    public var value: UInt64
    /// The table the symbol came from.
    public var source: SymbolSource

    /// Creates a resolved symbol.
    public init(name: String, offset: UInt64, size: UInt64, value: UInt64, source: SymbolSource) {
        self.name = name
        self.offset = offset
        self.size = size
        self.value = value
        self.source = source
    }

    /// `name+0xoffset`, as in a backtrace.
    public var description: String {
        offset == 0 ? name : "\(name)+0x\(String(offset, radix: 16))"
    }
}
