/// Function symbols sorted by address, resolving an address only to a symbol
/// whose range `[value, value + size)` covers it (size-0 symbols: exact match).
///
/// Lookups are a binary search; an address that no symbol covers yields nil,
/// never the nearest preceding name.
public struct SymbolTable: Sendable {
    /// One symbol in the table.
    public struct Entry: Sendable, Hashable {
        /// Symbol name.
        public var name: String
        /// Start address (`st_value`).
        public var value: UInt64
        /// Size in bytes; 0 means "only the exact start address".
        public var size: UInt64
        /// ELF binding (0 = LOCAL, 1 = GLOBAL, 2 = WEAK, 10 = GNU_UNIQUE).
        public var binding: UInt8
        /// Table the symbol came from.
        public var source: SymbolSource

        /// Creates an entry.
        public init(name: String, value: UInt64, size: UInt64, binding: UInt8, source: SymbolSource) {
            self.name = name
            self.value = value
            self.size = size
            self.binding = binding
            self.source = source
        }

        /// End of the covered range (exclusive); `value + 1` for size-0 symbols.
        public var end: UInt64 {
            let (sum, overflow) = value.addingReportingOverflow(max(size, 1))
            return overflow ? UInt64.max : sum
        }

        /// Whether `address` lies in `[value, end)`.
        public func covers(_ address: UInt64) -> Bool {
            address >= value && address < end
        }
    }

    /// Entries sorted by ascending value; within one value, least preferred first.
    public let entries: [Entry]
    /// `maxEnd[i]` = the largest `end` among `entries[0...i]`; bounds the backward scan.
    private let maxEnd: [UInt64]

    /// Builds a table from entries in any order.
    public init(_ entries: [Entry]) {
        // Sort indices, not the entries themselves (each holds strings): cheap moves, and the
        // preference rule runs only for entries at the same address.
        let order = entries.indices.sorted { i, j in
            let a = entries[i].value, b = entries[j].value
            if a != b { return a < b }
            // Same address: the preferred entry goes last, as lookups scan backwards.
            return SymbolTable.isLessPreferred(entries[i], than: entries[j])
        }
        var sorted: [Entry] = []
        sorted.reserveCapacity(entries.count)
        var maxEnd: [UInt64] = []
        maxEnd.reserveCapacity(entries.count)
        var running: UInt64 = 0
        for (position, index) in order.enumerated() {
            let entry = entries[index]
            // The same name at the same address again (a .dynsym copy of a .symtab symbol): the
            // preferred one sorts last, so keep only that.
            if position + 1 < order.count {
                let next = entries[order[position + 1]]
                if next.value == entry.value && next.name == entry.name { continue }
            }
            running = max(running, entry.end)
            sorted.append(entry)
            maxEnd.append(running)
        }
        self.entries = sorted
        self.maxEnd = maxEnd
    }

    /// Builds a table from ELF function symbols, in order of priority: a symbol
    /// whose name and address already appeared in an earlier list is dropped.
    public init(merging lists: [(symbols: [ELFSymbol], source: SymbolSource)]) {
        var entries: [Entry] = []
        entries.reserveCapacity(lists.reduce(0) { $0 + $1.symbols.count })
        for (symbols, source) in lists {
            for symbol in symbols {
                entries.append(Entry(name: symbol.name, value: symbol.value, size: symbol.size,
                                     binding: symbol.binding, source: source))
            }
        }
        self.init(entries)
    }

    /// Number of symbols.
    public var count: Int { entries.count }

    /// Whether the table has no symbols.
    public var isEmpty: Bool { entries.isEmpty }

    /// The symbol covering the virtual `address`, or nil when none does.
    ///
    /// When several symbols cover the address, the one starting closest below it
    /// wins; among those starting at the same address, a global beats a weak
    /// beats a local one, so aliases resolve to a stable name.
    public func lookup(_ address: UInt64) -> Symbol? {
        guard let entry = entry(covering: address) else { return nil }
        return Symbol(name: entry.name, offset: address - entry.value, size: entry.size,
                      value: entry.value, source: entry.source)
    }

    /// The entry covering `address`, or nil; see `lookup(_:)`.
    public func entry(covering address: UInt64) -> Entry? {
        // First index whose value is greater than the address.
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].value <= address { low = mid + 1 } else { high = mid }
        }
        var i = low - 1
        while i >= 0, maxEnd[i] > address {
            if entries[i].covers(address) { return entries[i] }
            i -= 1
        }
        return nil
    }

    /// All entries called `name` (linear scan).
    public func entries(named name: String) -> [Entry] {
        entries.filter { $0.name == name }
    }

    // MARK: - Preference

    private static func bindingRank(_ binding: UInt8) -> Int {
        switch binding {
        case ELFConstants.STB_GLOBAL, ELFConstants.STB_GNU_UNIQUE: return 2
        case ELFConstants.STB_WEAK: return 1
        default: return 0
        }
    }

    private static func sourceRank(_ source: SymbolSource) -> Int {
        switch source {
        case .dynsym: return 0
        case .symtab, .debugFile: return 1
        }
    }

    /// Total order on entries at one address: true when `a` should lose to `b`.
    static func isLessPreferred(_ a: Entry, than b: Entry) -> Bool {
        let ra = bindingRank(a.binding), rb = bindingRank(b.binding)
        if ra != rb { return ra < rb }
        let sa = sourceRank(a.source), sb = sourceRank(b.source)
        if sa != sb { return sa < sb }
        // A sized symbol beats a size-0 one; then the larger range.
        if a.size != b.size { return a.size < b.size }
        // Fewer leading underscores, then shorter, then lexicographically first.
        let ua = a.name.prefix { $0 == "_" }.count, ub = b.name.prefix { $0 == "_" }.count
        if ua != ub { return ua > ub }
        if a.name.utf8.count != b.name.utf8.count { return a.name.utf8.count > b.name.utf8.count }
        return a.name > b.name
    }
}
