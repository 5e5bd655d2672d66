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

    /// One symbol as stored: plain values, its name still in its list's string table.
    struct Key {
        var value: UInt64
        var size: UInt64
        var nameStart: UInt32
        var nameLength: UInt32
        var binding: UInt8
        var list: UInt8

        var end: UInt64 {
            let (sum, overflow) = value.addingReportingOverflow(max(size, 1))
            return overflow ? UInt64.max : sum
        }
    }

    /// The symbol lists the keys come from, in priority order.
    private let lists: [(table: FunctionTable, source: SymbolSource)]
    /// Keys sorted by ascending value; within one value, least preferred first.
    private let keys: [Key]
    /// `maxEnd[i]` = the largest `end` among `keys[0...i]`; bounds the backward scan.
    private let maxEnd: [UInt64]

    /// Builds a table from function tables as read from ELF files, in order of priority; names
    /// are decoded only for the symbols looked up.
    public init(tables: [(table: FunctionTable, source: SymbolSource)]) {
        var keys: [Key] = []
        keys.reserveCapacity(tables.reduce(0) { $0 + $1.table.records.count })
        for (list, (table, _)) in tables.enumerated() {
            for record in table.records {
                keys.append(Key(value: record.value, size: record.size, nameStart: record.nameStart,
                                nameLength: record.nameLength, binding: record.binding, list: UInt8(list)))
            }
        }
        lists = tables
        // Plain values sort fast; then the preference rule orders each run of keys at one address.
        keys.sort { $0.value < $1.value }
        var runStart = 0
        while runStart < keys.count {
            var runEnd = runStart + 1
            while runEnd < keys.count && keys[runEnd].value == keys[runStart].value { runEnd += 1 }
            if runEnd - runStart > 1 {
                keys[runStart..<runEnd].sort { SymbolTable.isLessPreferred($0, than: $1, in: tables) }
            }
            runStart = runEnd
        }
        var kept: [Key] = []
        kept.reserveCapacity(keys.count)
        var maxEnd: [UInt64] = []
        maxEnd.reserveCapacity(keys.count)
        var running: UInt64 = 0
        for (position, key) in keys.enumerated() {
            // The same name at the same address again (a .dynsym copy of a .symtab symbol): the
            // preferred one sorts last, so keep only that.
            if position + 1 < keys.count, keys[position + 1].value == key.value,
               SymbolTable.sameName(keys[position + 1], key, tables) { continue }
            running = max(running, key.end)
            kept.append(key)
            maxEnd.append(running)
        }
        self.keys = kept
        self.maxEnd = maxEnd
    }

    /// Builds a table from entries in any order.
    public init(_ entries: [Entry]) {
        // One list per source, each with its own string table.
        var bySource: [(symbols: [ELFSymbol], source: SymbolSource)] = []
        for entry in entries {
            let symbol = ELFSymbol(name: entry.name, value: entry.value, size: entry.size, type: ELFConstants.STT_FUNC,
                                   binding: entry.binding, sectionIndex: 1)
            if let index = bySource.firstIndex(where: { $0.source == entry.source }) {
                bySource[index].symbols.append(symbol)
            } else {
                bySource.append(([symbol], entry.source))
            }
        }
        self.init(merging: bySource)
    }

    /// Builds a table from ELF function symbols, in order of priority: a symbol
    /// whose name and address already appeared in an earlier list is dropped.
    public init(merging lists: [(symbols: [ELFSymbol], source: SymbolSource)]) {
        self.init(tables: lists.map { (FunctionTable($0.symbols), $0.source) })
    }

    /// Entries sorted by ascending value; within one value, least preferred first. Decodes every
    /// name: for inspection, not for lookups.
    public var entries: [Entry] { keys.map(entry) }

    /// Number of symbols.
    public var count: Int { keys.count }

    /// Whether the table has no symbols.
    public var isEmpty: Bool { keys.isEmpty }

    /// The symbol covering the virtual `address`, or nil when none does.
    ///
    /// When several symbols cover the address, the one starting closest below it
    /// wins; among those starting at the same address, a global beats a weak
    /// beats a local one, so aliases resolve to a stable name.
    public func lookup(_ address: UInt64) -> Symbol? {
        guard let key = key(covering: address) else { return nil }
        return Symbol(name: Self.name(key, lists), offset: address - key.value, size: key.size,
                      value: key.value, source: lists[Int(key.list)].source)
    }

    /// The entry covering `address`, or nil; see `lookup(_:)`.
    public func entry(covering address: UInt64) -> Entry? {
        key(covering: address).map(entry)
    }

    private func key(covering address: UInt64) -> Key? {
        // First index whose value is greater than the address.
        var low = 0
        var high = keys.count
        while low < high {
            let mid = (low + high) / 2
            if keys[mid].value <= address { low = mid + 1 } else { high = mid }
        }
        var i = low - 1
        while i >= 0, maxEnd[i] > address {
            if address >= keys[i].value && address < keys[i].end { return keys[i] }
            i -= 1
        }
        return nil
    }

    private func entry(_ key: Key) -> Entry {
        Entry(name: Self.name(key, lists), value: key.value, size: key.size, binding: key.binding,
              source: lists[Int(key.list)].source)
    }

    /// All entries called `name` (linear scan).
    public func entries(named name: String) -> [Entry] {
        let wanted = Array(name.utf8)[...]
        return keys.filter { Self.nameBytes($0, lists) == wanted }.map(entry)
    }

    static func nameBytes(_ key: Key, _ lists: [(table: FunctionTable, source: SymbolSource)]) -> ArraySlice<UInt8> {
        let strings = lists[Int(key.list)].table.strings
        let start = Int(key.nameStart)
        return strings[start..<(start + Int(key.nameLength))]
    }

    /// Whether two keys have the same name; without comparing bytes when they point at the same
    /// string (a table of many symbols sharing one long name costs no more than a short one).
    static func sameName(_ a: Key, _ b: Key, _ lists: [(table: FunctionTable, source: SymbolSource)]) -> Bool {
        if a.nameLength != b.nameLength { return false }
        if a.list == b.list && a.nameStart == b.nameStart { return true }
        return nameBytes(a, lists) == nameBytes(b, lists)
    }

    static func name(_ key: Key, _ lists: [(table: FunctionTable, source: SymbolSource)]) -> String {
        String(decoding: nameBytes(key, lists), as: UTF8.self)
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

    /// Total order on keys at one address: true when `a` should lose to `b`.
    static func isLessPreferred(_ a: Key, than b: Key, in lists: [(table: FunctionTable, source: SymbolSource)]) -> Bool {
        let ra = bindingRank(a.binding), rb = bindingRank(b.binding)
        if ra != rb { return ra < rb }
        let sa = sourceRank(lists[Int(a.list)].source), sb = sourceRank(lists[Int(b.list)].source)
        if sa != sb { return sa < sb }
        // A sized symbol beats a size-0 one; then the larger range.
        if a.size != b.size { return a.size < b.size }
        // Fewer leading underscores, then shorter, then lexicographically first.
        let na = nameBytes(a, lists), nb = nameBytes(b, lists)
        let underscore = UInt8(ascii: "_")
        let ua = na.prefix { $0 == underscore }.count, ub = nb.prefix { $0 == underscore }.count
        if ua != ub { return ua > ub }
        if na.count != nb.count { return na.count > nb.count }
        return na.lexicographicallyPrecedes(nb) == false && na != nb
    }
}
