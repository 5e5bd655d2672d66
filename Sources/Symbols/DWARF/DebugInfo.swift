/// A function inlined at an address: its name and where in its source the address is.
public struct InlinedFunction: Sendable, Hashable {
    /// The function's name (`DW_AT_name`, through its abstract origin); nil when unnamed.
    public var name: String?
    /// The position in the inlined function's source.
    public var location: SourcePosition?

    public init(name: String?, location: SourcePosition?) {
        self.name = name
        self.location = location
    }
}

/// What DWARF says about one address.
public struct SourceInfo: Sendable, Hashable {
    /// The position in the source of the function that holds the address as real code (the one
    /// the symbol table names): for inlined code, the line that made the outermost inlined call.
    public var location: SourcePosition?
    /// Functions inlined at the address, innermost first; each with its own position (for the
    /// innermost, the line of the address itself).
    public var inlined: [InlinedFunction]

    public init(location: SourcePosition?, inlined: [InlinedFunction] = []) {
        self.location = location
        self.inlined = inlined
    }
}

/// The DWARF sections one reader uses, already inflated.
public struct DWARFSections: Sendable {
    public var info: [UInt8] = []
    public var abbrev: [UInt8] = []
    public var line: [UInt8] = []
    public var str: [UInt8] = []
    public var lineStr: [UInt8] = []
    public var addr: [UInt8] = []
    public var strOffsets: [UInt8] = []
    public var ranges: [UInt8] = []
    public var rnglists: [UInt8] = []
    public var aranges: [UInt8] = []
    /// `.debug_info` and `.debug_line` where they lie in the file uncompressed, then read a unit
    /// or a line program at a time when first needed, not whole (`info` and `line` stay empty): a
    /// large library's are megabytes, of which a few frames need a few units.
    var infoInFile: FileSection?
    var lineInFile: FileSection?
    /// When `.debug_info` and `.debug_abbrev` were inflated only as far as some addresses need
    /// (`init(_:covering:)`): the offsets of the units that hold those addresses, the only ones
    /// looked up in. nil: the sections are whole.
    var coveredUnits: Set<UInt64>?

    public init() {}

    /// The sections of `elf`, with a compressed `.debug_info` and `.debug_abbrev` inflated only
    /// up to the end of what the units holding `addresses` (link-time virtual addresses) need,
    /// as `.debug_aranges` places them: most of such a section is for other units, and inflating
    /// it is the largest part of reading a library's DWARF. Whole, as `init(_:)` reads them,
    /// when the sections are not compressed or an address is in no unit the aranges name.
    public init?(_ elf: ELFFile, covering addresses: [UInt64]) {
        guard let partial = Self.partial(elf, addresses) else {
            self.init(elf)
            return
        }
        self = partial
    }

    private static func partial(_ elf: ELFFile, _ addresses: [UInt64]) -> DWARFSections? {
        func compressed(_ name: String) -> ELFSection? {
            elf.sections.first { $0.name == name && $0.hasFileData && $0.flags & ELFConstants.SHF_COMPRESSED != 0 }
        }
        guard !addresses.isEmpty, let infoSection = compressed(".debug_info"), let abbrevSection = compressed(".debug_abbrev"),
              let aranges = elf.sectionData(named: ".debug_aranges") else { return nil }
        let ranges = DebugInfo.arangeSets(aranges)
        let index = DebugInfo.AddressIndex(ranges.map { ($0.start, $0.end, Int(truncatingIfNeeded: $0.infoOffset)) })
        var needed = Set<UInt64>()
        for address in addresses {
            guard let unit = index.unit(containing: address) else { return nil }
            needed.insert(UInt64(unit))
        }
        // The units end where the next one the aranges name starts; the header of that one is read
        // too, for where their abbreviation tables end.
        guard let last = needed.max(), let infoEnd = ranges.lazy.map(\.infoOffset).filter({ $0 > last }).min(),
              var info = try? elf.sectionData(infoSection, prefix: Int(infoEnd) + 32), info.count > Int(infoEnd) else { return nil }
        // Those tables end where the next one of a unit read starts.
        var abbrevOffsets: [UInt64] = []
        var neededAbbrev: UInt64 = 0
        var next = 0
        while next <= Int(infoEnd), let header = DebugInfo.unitHeader(DWARFCursor(info, at: next), size: Int(Int32.max)) {
            if let unit = header.unit {
                abbrevOffsets.append(unit.abbrevOffset)
                if needed.contains(UInt64(next)) { neededAbbrev = max(neededAbbrev, unit.abbrevOffset) }
            }
            if next == Int(infoEnd) { break }
            next = header.next
        }
        info.removeLast(info.count - Int(infoEnd))
        guard let abbrevEnd = abbrevOffsets.filter({ $0 > neededAbbrev }).min(),
              let abbrev = try? elf.sectionData(abbrevSection, prefix: Int(abbrevEnd)) else { return nil }
        var sections = DWARFSections()
        sections.info = info
        sections.line = elf.sectionData(named: ".debug_line") ?? []
        sections.readReferred(elf)
        sections.abbrev = abbrev
        sections.aranges = aranges
        sections.coveredUnits = needed
        return sections
    }

    /// Reads the sections that `.debug_info` and `.debug_line` refer to, but `.debug_abbrev`.
    private mutating func readReferred(_ elf: ELFFile) {
        func data(_ name: String) -> [UInt8] { elf.sectionData(named: name) ?? [] }
        str = data(".debug_str")
        lineStr = data(".debug_line_str")
        addr = data(".debug_addr")
        strOffsets = data(".debug_str_offsets")
        ranges = data(".debug_ranges")
        rnglists = data(".debug_rnglists")
    }

    /// The sections of `elf`, or nil when it has neither `.debug_info` nor `.debug_line`.
    public init?(_ elf: ELFFile) {
        func data(_ name: String) -> [UInt8] { elf.sectionData(named: name) ?? [] }
        func inFile(_ name: String) -> FileSection? {
            guard let section = elf.sections.first(where: { $0.name == name && $0.hasFileData }),
                  section.flags & ELFConstants.SHF_COMPRESSED == 0, section.size <= ELFLimits.sectionBytes,
                  section.offset <= elf.source.size, section.size <= elf.source.size - section.offset else { return nil }
            return FileSection(source: elf.source, offset: section.offset, size: Int(section.size))
        }
        infoInFile = inFile(".debug_info")
        lineInFile = inFile(".debug_line")
        if infoInFile == nil { info = data(".debug_info") }
        if lineInFile == nil { line = data(".debug_line") }
        guard infoSize > 0 || lineSize > 0 else { return nil }
        abbrev = data(".debug_abbrev")
        readReferred(elf)
        aranges = data(".debug_aranges")
    }

    var infoSize: Int { infoInFile?.size ?? info.count }
    var lineSize: Int { lineInFile?.size ?? line.count }

    /// A cursor over offsets `start..<end` of `.debug_info`, read from the file when it is there.
    func infoCursor(_ start: Int, _ end: Int) -> DWARFCursor {
        guard let file = infoInFile else { return DWARFCursor(info, at: start, end: end) }
        return DWARFCursor(file.read(start, end), base: start, at: start, end: end)
    }

    /// The same sections with `.debug_info` and `.debug_line` in memory, whole.
    func inMemory() -> DWARFSections {
        var copy = self
        if let file = infoInFile { copy.info = file.read(0, file.size) }
        if let file = lineInFile { copy.line = file.read(0, file.size) }
        copy.infoInFile = nil
        copy.lineInFile = nil
        return copy
    }
}

/// A section's place in its file, for reading it in parts.
struct FileSection: Sendable {
    let source: any ByteSource
    let offset: UInt64
    let size: Int

    /// The section's bytes at offsets `start..<end` (clamped to the section); fewer when the
    /// file has shrunk since.
    func read(_ start: Int, _ end: Int) -> [UInt8] {
        let end = min(end, size)
        guard start >= 0, start < end else { return [] }
        return (try? source.read(offset: offset + UInt64(start), count: UInt64(end - start))) ?? []
    }
}

/// Bounds on the work one file's DWARF can cause.
enum DWARFLimits {
    /// Units read from `.debug_info` or `.debug_line`.
    static let units = 1 << 20
    /// Nesting of DIEs followed; deeper trees are cut there.
    static let depth = 256
    /// `DW_AT_abstract_origin` / `DW_AT_specification` links followed to find a name.
    static let nameHops = 8
    /// Address ranges kept per DIE, per unit's function index, and in the index of all units.
    static let rangesPerEntry = 4096
    static let rangesPerUnit = 1 << 20
    static let indexRanges = 1 << 21
    /// Range list entries read, in all.
    static let rangeEntries = 1 << 21
    /// Lookups kept by address (the cache starts over when full).
    static let lookupsKept = 1 << 16
}

/// Source lines and inlined functions of one module's DWARF (DWARF 2 to 5, 32- and 64-bit):
/// `.debug_line` for lines, `.debug_info` for which unit holds an address and for inlined calls.
/// Units are decoded when an address in them is first looked up, and kept.
///
/// Every read is bounds-checked; malformed data makes the affected unit, or the lookup, give
/// nothing rather than a guess.
public final class DebugInfo: @unchecked Sendable {
    let sections: DWARFSections
    private let lock = Lock()
    /// Unit headers; the fields from each unit's own DIE are read when the unit is first used.
    private var units: [Unit] = []
    private var unitDIERead: [Bool] = []
    /// Which unit holds which addresses, as `.debug_aranges` says (gcc writes it; cheap to read).
    private var arangesIndex = AddressIndex()
    /// The same from every unit's own ranges (clang writes no `.debug_aranges`): built on the first
    /// address the aranges do not cover.
    private var fullIndex: AddressIndex?
    private var abbrevTables: [AbbrevKey: AbbrevTable?] = [:]
    /// Bytes of `.debug_abbrev` left to parse: units may point into one another's tables, and
    /// reading each from its start to its end would be quadratic.
    private var abbrevBytesLeft: Int
    /// Range list entries left to read: many DIEs may share one long list, even one that yields no
    /// range (base address selections only).
    private var rangeEntriesLeft = DWARFLimits.rangeEntries
    /// Line programs by their offset in `.debug_line`: units may share one, and it is decoded once.
    private var lineTables: [Int: LineTable?] = [:]
    /// Units' bytes read from the file (`sections.infoInFile`), by unit index.
    private var unitBytes: [Int: [UInt8]] = [:]
    /// Lookups done, by address: a snapshot's processes share their libraries' frames.
    private var lookedUp: [UInt64: SourceInfo?] = [:]
    /// Line programs not reached from any unit (`.debug_line` without `.debug_info`).
    private var orphanLineTables: [LineTable]?

    struct Unit {
        var offset: Int
        var end: Int
        var version: UInt16
        var is64: Bool
        var addressSize: Int
        var abbrevOffset: UInt64
        var firstDIE: Int
        var unitType: UInt8
        // From the unit's DIE.
        var lowPC: UInt64 = 0
        var stmtList: Int?
        var compDir: String?
        var strOffsetsBase: UInt64 = 8
        var addrBase: UInt64 = 8
        var rnglistsBase: UInt64?

        var format: Format { Format(addressSize: addressSize, is64: is64, version2: version <= 2) }
    }

    /// Address ranges to unit indexes, sorted, with running maximum ends for overlaps.
    struct AddressIndex {
        var ranges: [(start: UInt64, end: UInt64, unit: Int)] = []
        var maxEnd: [UInt64] = []

        init(_ unsorted: [(start: UInt64, end: UInt64, unit: Int)] = []) {
            ranges = unsorted.filter { $0.end > $0.start }.sorted { $0.start < $1.start }
            var running: UInt64 = 0
            maxEnd = ranges.map { running = max(running, $0.end); return running }
        }

        func unit(containing address: UInt64) -> Int? {
            var low = 0, high = ranges.count
            while low < high {
                let mid = (low + high) / 2
                if ranges[mid].start <= address { low = mid + 1 } else { high = mid }
            }
            var i = low - 1
            while i >= 0, maxEnd[i] > address {
                if address >= ranges[i].start && address < ranges[i].end { return ranges[i].unit }
                i -= 1
            }
            return nil
        }
    }

    /// What fixes the size of attribute forms in a unit: its address size, offset size (32- or
    /// 64-bit DWARF), and version 2's address-sized `DW_FORM_ref_addr`.
    struct Format: Hashable {
        var addressSize: Int
        var is64: Bool
        var version2: Bool
    }

    struct Attribute {
        var name: UInt64
        var form: UInt64
        var implicitConst: Int64
        /// Its size in the table's format when the form has a fixed size.
        var size: Int?
    }

    /// An abbreviation, shared by reference: a walk looks one up for every DIE.
    final class Abbrev {
        let tag: UInt64
        let hasChildren: Bool
        let attributes: [Attribute]
        /// The DIE's size after its code when every attribute's size is fixed: such a DIE is
        /// stepped over at once when none of it is needed.
        let size: Int?

        init(tag: UInt64, hasChildren: Bool, attributes: [Attribute], size: Int?) {
            self.tag = tag
            self.hasChildren = hasChildren
            self.attributes = attributes
            self.size = size
        }

        /// Whether its children can hold no code: anything but a function, a lexical block, a
        /// namespace or a module (a type's members, a call site's parameters).
        var holdsNoCode: Bool {
            switch tag {
            case 0x2e, 0x1d, 0x0b, 0x39, 0x1e, 0x11, 0x3c: return false  // subprogram, inlined_subroutine, lexical_block, namespace, module, compile_unit, partial_unit
            default: return true
            }
        }
    }

    struct AbbrevKey: Hashable {
        var offset: UInt64
        var format: Format
    }

    /// What a walk over DIEs needs to know of an abbreviation to step over its DIE, a plain value.
    struct AbbrevStep {
        /// The DIE's size after its code when every attribute's is fixed, else -1.
        var size: Int32 = -1
        var flags: UInt8 = 0
        static let known: UInt8 = 1, hasChildren: UInt8 = 2, holdsNoCode: UInt8 = 4, hasCode: UInt8 = 8

        init() {}

        init(_ abbrev: Abbrev) {
            size = abbrev.size.flatMap { Int32(exactly: $0) } ?? -1
            flags = Self.known | (abbrev.hasChildren ? Self.hasChildren : 0) | (abbrev.holdsNoCode ? Self.holdsNoCode : 0)
            // subprogram, inlined_subroutine, lexical_block
            if abbrev.tag == 0x2e || abbrev.tag == 0x1d || abbrev.tag == 0x0b { flags |= Self.hasCode }
        }
    }

    /// A unit's abbreviations by code. Producers number them from 1 without gaps: those are
    /// kept in arrays (with each one's `AbbrevStep` beside it), any others by code.
    struct AbbrevTable {
        private var dense: [Abbrev?] = []
        private(set) var steps: [AbbrevStep] = []
        private var sparse: [UInt64: Abbrev] = [:]
        private var count = 0

        /// Whether an attribute refers to a DIE by its offset in `.debug_info` (`DW_FORM_ref_addr`),
        /// which may be in another unit.
        private(set) var refersToOtherUnits = false

        subscript(code: UInt64) -> Abbrev? {
            code < UInt64(dense.count) ? dense[Int(code)] : sparse[code]
        }

        /// The step of abbreviation `code`; `flags` without `known` when there is none.
        func step(_ code: UInt64) -> AbbrevStep {
            if code < UInt64(steps.count) { return steps[Int(code)] }
            return sparse[code].map(AbbrevStep.init) ?? AbbrevStep()
        }

        mutating func add(_ code: UInt64, _ abbrev: Abbrev) {
            count += 1
            // DW_FORM_ref_addr, or DW_FORM_indirect, which may be one.
            if abbrev.attributes.contains(where: { $0.form == 0x10 || $0.form == 0x16 }) { refersToOtherUnits = true }
            // The arrays grow only as far as twice the number of abbreviations.
            if code < UInt64(2 * count + 16) {
                if code >= UInt64(dense.count) {
                    dense.append(contentsOf: repeatElement(nil, count: Int(code) + 1 - dense.count))
                    steps.append(contentsOf: repeatElement(AbbrevStep(), count: Int(code) + 1 - steps.count))
                }
                dense[Int(code)] = abbrev
                steps[Int(code)] = AbbrevStep(abbrev)
                sparse[code] = nil
            } else {
                sparse[code] = abbrev
            }
        }
    }

    /// A subprogram or inlined subroutine whose code contains an address looked up.
    struct FunctionEntry {
        var isInlined: Bool
        var dieOffset: Int
        var callFile: UInt64?
        var callLine: UInt64?
        var callColumn: UInt64?
    }

    public init(sections: DWARFSections) {
        self.sections = sections
        abbrevBytesLeft = 4 * sections.abbrev.count + (1 << 20)
        readUnitHeaders()
    }

    /// Whether lookups of `address` find all they need here: always, unless the sections were
    /// inflated only in part (`DWARFSections(_:covering:)`), then for the units named then, as long
    /// as none of them refers to a DIE of another unit (`DW_FORM_ref_addr`), maybe past the part.
    public func covers(_ address: UInt64) -> Bool {
        guard let covered = sections.coveredUnits else { return true }
        return lock.withLock {
            guard let index = arangesIndex.unit(containing: address), covered.contains(UInt64(units[index].offset)),
                  let table = abbrevTable(unit(index)) else { return false }
            return !table.refersToOtherUnits
        }
    }

    /// Whether the sections are whole.
    public var isWhole: Bool { sections.coveredUnits == nil }

    /// The source position of `address` (a link-time virtual address), with the functions
    /// inlined there; nil when no line table covers it.
    public func sourceInfo(at address: UInt64) -> SourceInfo? {
        lock.withLock {
            if let known = lookedUp[address] { return known }
            if lookedUp.count >= DWARFLimits.lookupsKept { lookedUp.removeAll() }
            let info = lookUp(address)
            lookedUp[address] = .some(info)
            return info
        }
    }

    private func lookUp(_ address: UInt64) -> SourceInfo? {
        guard let unitIndex = unit(containing: address) else { return orphanLocation(address).map { SourceInfo(location: $0) } }
        let lines = lineTable(unitIndex)
        // Line 0 (code the compiler could attribute to no line) still has its inlined calls.
        let here = lines?.location(for: address)
        let chain = inlineChain(unitIndex, address: address)
        guard chain.contains(where: \.isInlined) else { return here.map { SourceInfo(location: $0) } }
        // chain: innermost first; the inlined entries, then the function that holds them.
        var inlined: [InlinedFunction] = []
        var location: SourcePosition? = here
        for entry in chain where entry.isInlined {
            inlined.append(InlinedFunction(name: name(unitIndex, dieOffset: entry.dieOffset), location: location))
            // The next one out is where this one was called from.
            location = entry.callLine.flatMap { line in
                guard line > 0, line <= UInt64(Int32.max), let file = entry.callFile.flatMap({ lines?.file($0) }) else { return nil }
                return SourcePosition(file: file, line: Int(line),
                                      column: entry.callColumn.flatMap { $0 > 0 && $0 <= UInt64(Int32.max) ? Int($0) : nil })
            }
        }
        return SourceInfo(location: location, inlined: inlined)
    }

    /// Addresses worth looking up: the start, middle and last byte of each unit's ranges (for
    /// tests and fuzzing).
    func sampleAddresses(limit: Int) -> [UInt64] {
        lock.withLock {
            (arangesIndex.ranges.prefix(limit) + completeIndex().ranges.prefix(limit))
                .flatMap { [$0.start, $0.start + ($0.end - $0.start) / 2, $0.end - 1] }
        }
    }

    // MARK: - Units

    private func readUnitHeaders() {
        let size = sections.infoSize
        var next = 0
        while next < size, units.count < DWARFLimits.units {
            // A header takes at most 24 bytes: only those are read of a unit in the file.
            guard let header = Self.unitHeader(sections.infoCursor(next, next + 24), size: size) else { break }
            next = header.next
            guard let unit = header.unit else { continue }
            units.append(unit)
            unitDIERead.append(false)
        }
        arangesIndex = AddressIndex(readAranges())
    }

    /// The header of the unit `cursor` is at (with at least the header's 24 bytes) in a
    /// `.debug_info` of `size` bytes: the unit (nil for a type, skeleton or split unit, or one
    /// not understood) and where the next one starts; nil when its length runs past the end.
    static func unitHeader(_ cursor: DWARFCursor, size: Int) -> (unit: Unit?, next: Int)? {
        var cursor = cursor
        let start = cursor.offset
        guard let (length, is64) = try? cursor.unitLength(), length <= UInt64(size - cursor.offset) else { return nil }
        let end = cursor.offset + Int(length)
        var header = DWARFCursor(cursor.bytes, base: cursor.base, at: cursor.offset, end: end)
        guard let version = try? header.u16(), (2...5).contains(version) else { return (nil, end) }
        var unitType: UInt8 = 1
        var addressSize = 8
        var abbrevOffset: UInt64 = 0
        do throws(DWARFError) {
            if version >= 5 {
                unitType = try header.u8()
                addressSize = Int(try header.u8())
                abbrevOffset = try header.offset(is64: is64)
                switch unitType {
                case 1, 3: break  // compile, partial
                default: return (nil, end)  // type units, skeleton and split units: no code here
                }
            } else {
                abbrevOffset = try header.offset(is64: is64)
                addressSize = Int(try header.u8())
            }
        } catch { return (nil, end) }
        guard addressSize == 4 || addressSize == 8 else { return (nil, end) }
        return (Unit(offset: start, end: end, version: version, is64: is64, addressSize: addressSize,
                     abbrevOffset: abbrevOffset, firstDIE: header.offset, unitType: unitType), end)
    }

    /// `.debug_aranges`: for each unit, the address ranges it holds.
    private func readAranges() -> [(start: UInt64, end: UInt64, unit: Int)] {
        Self.arangeSets(sections.aranges).compactMap { range in
            unitIndex(startingAt: range.infoOffset).map { (range.start, range.end, $0) }
        }
    }

    /// The address ranges of `.debug_aranges`, each with the offset in `.debug_info` of the unit
    /// that holds it.
    static func arangeSets(_ aranges: [UInt8]) -> [(start: UInt64, end: UInt64, infoOffset: UInt64)] {
        var result: [(start: UInt64, end: UInt64, infoOffset: UInt64)] = []
        var cursor = DWARFCursor(aranges)
        var sets = 0
        while !cursor.isAtEnd, sets < DWARFLimits.units {
            sets += 1
            let setStart = cursor.offset
            guard let (length, is64) = try? cursor.unitLength(), length <= UInt64(cursor.remaining) else { break }
            let end = cursor.offset + Int(length)
            var set = DWARFCursor(aranges, at: cursor.offset, end: end)
            cursor.offset = end
            guard let version = try? set.u16(), version == 2, let infoOffset = try? set.offset(is64: is64),
                  let addressSize = try? set.u8(), addressSize == 4 || addressSize == 8, let segmentSize = try? set.u8(),
                  segmentSize == 0 else { continue }
            // Tuples start at a multiple of twice the address size from the set's start.
            let tuple = 2 * Int(addressSize)
            set.offset = setStart + (set.offset - setStart + tuple - 1) / tuple * tuple
            while let start = try? set.unsigned(size: Int(addressSize)), let length = try? set.unsigned(size: Int(addressSize)) {
                if start == 0 && length == 0 { break }
                let (end, overflow) = start.addingReportingOverflow(length)
                if !overflow { result.append((start, end, infoOffset)) }
            }
        }
        return result
    }

    /// The unit whose header starts at `offset` of `.debug_info`.
    private func unitIndex(startingAt offset: UInt64) -> Int? {
        var low = 0, high = units.count
        while low < high {
            let mid = (low + high) / 2
            if UInt64(units[mid].offset) < offset { low = mid + 1 } else { high = mid }
        }
        return low < units.count && UInt64(units[low].offset) == offset ? low : nil
    }

    /// Unit `index` with the fields of its own DIE, read on first use.
    private func unit(_ index: Int) -> Unit {
        if !unitDIERead[index] {
            unitDIERead[index] = true
            // Not in place: reading the DIE may read the unit's bytes, which looks at `units`.
            var read = units[index]
            readUnitDIE(&read, index: index)
            units[index] = read
        }
        return units[index]
    }

    /// Every unit's ranges: its DIE's, else its line program's sequences.
    private func completeIndex() -> AddressIndex {
        if let fullIndex { return fullIndex }
        var ranges: [(start: UInt64, end: UInt64, unit: Int)] = []
        var claimedPrograms = Set<Int>()
        for index in units.indices {
            var own = unitDIERanges(index)
            // A program's sequences are the ranges of the first unit without its own that uses it.
            if own.isEmpty, let program = units[index].stmtList, claimedPrograms.insert(program).inserted,
               let table = lineTable(index) {
                own = table.sequences.map { $0.start..<$0.end }
            }
            for range in own.prefix(DWARFLimits.rangesPerEntry * 16) { ranges.append((range.lowerBound, range.upperBound, index)) }
            if ranges.count >= DWARFLimits.indexRanges { break }
        }
        let index = AddressIndex(ranges)
        fullIndex = index
        return index
    }

    /// The attributes of the unit's own DIE; nil when they cannot be read. From a file, read
    /// from the DIE's first kilobyte, or from the whole unit for a longer DIE.
    private func unitDIEValues(_ unit: Unit, index: Int) -> [(name: UInt64, value: AttributeValue)]? {
        guard let table = abbrevTable(unit) else { return nil }
        func values(_ cursor: DWARFCursor) -> [(name: UInt64, value: AttributeValue)]? {
            var cursor = cursor
            guard let code = try? cursor.uleb(), code != 0, let abbrev = table[code] else { return nil }
            var values: [(name: UInt64, value: AttributeValue)] = []
            for spec in abbrev.attributes {
                guard let value = try? readValue(&cursor, form: spec.form, implicitConst: spec.implicitConst, unit: unit) else { return nil }
                values.append((spec.name, value))
            }
            return values
        }
        let head = unitBytes[index] == nil ? sections.infoCursor(unit.firstDIE, min(unit.end, unit.firstDIE + 1024)) : nil
        if let head, let found = values(head) { return found }
        if let head, head.end == unit.end { return nil }
        return values(unitCursor(index, at: unit.firstDIE))
    }

    /// A cursor over unit `index` from `offset` to its end; a unit in the file is read whole on
    /// first use and kept.
    private func unitCursor(_ index: Int, at offset: Int) -> DWARFCursor {
        let unit = units[index]
        guard sections.infoInFile != nil else { return DWARFCursor(sections.info, at: offset, end: unit.end) }
        let bytes = unitBytes[index] ?? sections.infoCursor(unit.offset, unit.end).bytes
        unitBytes[index] = bytes
        return DWARFCursor(bytes, base: unit.offset, at: offset, end: unit.end)
    }

    /// Reads the unit's own DIE: the bases later attributes need, the line program, the
    /// compilation directory.
    private func readUnitDIE(_ unit: inout Unit, index: Int) {
        guard let values = unitDIEValues(unit, index: index) else { return }
        for (name, value) in values {
            switch (name, value) {
            case (0x72, .unsigned(let base)), (0x72, .sectionOffset(let base)): unit.strOffsetsBase = base  // str_offsets_base
            case (0x73, .unsigned(let base)), (0x73, .sectionOffset(let base)),
                 (0x2133, .unsigned(let base)), (0x2133, .sectionOffset(let base)): unit.addrBase = base  // addr_base
            case (0x74, .unsigned(let base)), (0x74, .sectionOffset(let base)): unit.rnglistsBase = base  // rnglists_base
            default: break
            }
        }
        for (name, value) in values {
            switch name {
            case 0x11: unit.lowPC = address(value, unit: unit) ?? 0  // low_pc
            case 0x10:  // stmt_list
                if let offset = value.offset, offset < UInt64(sections.lineSize) { unit.stmtList = Int(offset) }
            case 0x1b: unit.compDir = string(value, unit: unit)  // comp_dir
            default: break
            }
        }
    }

    /// The address ranges of the unit's DIE.
    private func unitDIERanges(_ index: Int) -> [Range<UInt64>] {
        let unit = unit(index)
        return unitDIEValues(unit, index: index).map { codeRanges($0, unit: unit) } ?? []
    }

    private func unit(containing address: UInt64) -> Int? {
        arangesIndex.unit(containing: address) ?? completeIndex().unit(containing: address)
    }

    /// The line table of unit `index`, decoded once.
    private func lineTable(_ index: Int) -> LineTable? {
        let unit = unit(index)
        guard let offset = unit.stmtList else { return nil }
        if let cached = lineTables[offset] { return cached }
        var bytes = sections.line, base = 0
        if let file = sections.lineInFile {
            // The program's length first, then the program.
            var header = DWARFCursor(file.read(offset, offset + 12), base: offset, at: offset)
            let length = (try? header.unitLength()).map { Int(clamping: $0.length) } ?? 0
            bytes = file.read(offset, header.offset + min(length, file.size))
            base = offset
        }
        let table = try? LineTable(section: bytes, base: base, at: offset,
                                   strings: LineTable.Strings(debugStr: sections.str, lineStr: sections.lineStr),
                                   compDir: unit.compDir, addressSize: unit.addressSize)
        lineTables[offset] = .some(table)
        return table
    }

    /// Without `.debug_info`, every line program in `.debug_line`, in order.
    private func orphanLocation(_ address: UInt64) -> SourcePosition? {
        guard units.isEmpty else { return nil }
        if orphanLineTables == nil {
            var tables: [LineTable] = []
            var offset = 0
            let line = sections.lineInFile.map { $0.read(0, $0.size) } ?? sections.line
            while offset < line.count, tables.count < DWARFLimits.units {
                var cursor = DWARFCursor(line, at: offset)
                guard let (length, _) = try? cursor.unitLength(), length <= UInt64(cursor.remaining) else { break }
                if let table = try? LineTable(section: line, at: offset,
                                              strings: LineTable.Strings(debugStr: sections.str, lineStr: sections.lineStr),
                                              compDir: nil) {
                    tables.append(table)
                }
                offset = cursor.offset + Int(length)
            }
            orphanLineTables = tables
        }
        for table in orphanLineTables ?? [] {
            if let location = table.location(for: address) { return location }
        }
        return nil
    }

    // MARK: - Abbreviations

    private func abbrevTable(_ unit: Unit) -> AbbrevTable? {
        let offset = unit.abbrevOffset, format = unit.format
        let key = AbbrevKey(offset: offset, format: format)
        if let cached = abbrevTables[key] { return cached }
        var table = AbbrevTable()
        let start = offset < UInt64(sections.abbrev.count) ? Int(offset) : sections.abbrev.count
        var cursor = DWARFCursor(sections.abbrev, at: start, end: start + max(0, abbrevBytesLeft))
        defer { abbrevBytesLeft -= cursor.offset - start }
        do throws(DWARFError) {
            if cursor.isAtEnd { throw .truncated }
            while true {
                let code = try cursor.uleb()
                if code == 0 { break }
                let tag = try cursor.uleb()
                let children = try cursor.u8() != 0
                var attributes: [Attribute] = []
                attributes.reserveCapacity(8)
                var size: Int? = 0
                while true {
                    let name = try cursor.uleb()
                    let form = try cursor.uleb()
                    if name == 0 && form == 0 { break }
                    let implicitConst = form == 0x21 ? try cursor.sleb() : 0
                    let formSize = Self.fixedSize(of: form, format: format)
                    attributes.append(Attribute(name: name, form: form, implicitConst: implicitConst, size: formSize))
                    size = size.flatMap { total in formSize.map { total + $0 } }
                }
                table.add(code, Abbrev(tag: tag, hasChildren: children, attributes: attributes, size: size))
            }
        } catch {
            abbrevTables[key] = .some(nil)
            return nil
        }
        abbrevTables[key] = .some(table)
        return table
    }

    /// The size of a value of `form` when it is the same for every value, as `readValue` reads
    /// it; nil for forms of variable size (strings, blocks, LEB128 numbers, indirect).
    static func fixedSize(of form: UInt64, format: Format) -> Int? {
        let offsetSize = format.is64 ? 8 : 4
        switch form {
        case 0x0b, 0x0c, 0x11, 0x25, 0x29: return 1  // data1, flag, ref1, strx1, addrx1
        case 0x05, 0x12, 0x26, 0x2a: return 2  // data2, ref2, strx2, addrx2
        case 0x27, 0x2b: return 3  // strx3, addrx3
        case 0x06, 0x13, 0x1c, 0x28, 0x2c: return 4  // data4, ref4, ref_sup4, strx4, addrx4
        case 0x07, 0x14, 0x20, 0x24: return 8  // data8, ref8, ref_sig8, ref_sup8
        case 0x1e: return 16  // data16
        case 0x01: return format.addressSize  // addr
        case 0x10: return format.version2 ? format.addressSize : offsetSize  // ref_addr
        case 0x0e, 0x17, 0x1d, 0x1f, 0x1f20, 0x1f21: return offsetSize  // strp, sec_offset, strp_sup, line_strp, GNU_ref_alt, GNU_strp_alt
        case 0x19, 0x21: return 0  // flag_present, implicit_const
        default: return nil
        }
    }

    // MARK: - Attribute values

    enum AttributeValue {
        case unsigned(UInt64)
        case signed(Int64)
        case address(UInt64)
        case addressIndex(UInt64)
        case string(ArraySlice<UInt8>)
        case stringOffset(UInt64)
        case lineStringOffset(UInt64)
        case stringIndex(UInt64)
        /// A DIE, as an offset in `.debug_info`.
        case reference(UInt64)
        case sectionOffset(UInt64)
        case rangeListIndex(UInt64)
        /// Blocks, flags, values in other files (supplementary, type units), location lists.
        case other

        var offset: UInt64? {
            switch self {
            case .sectionOffset(let v), .unsigned(let v): return v
            default: return nil
            }
        }

        var constant: UInt64? {
            switch self {
            case .unsigned(let v): return v
            case .signed(let v): return v >= 0 ? UInt64(v) : nil
            default: return nil
            }
        }
    }

    /// Reads one attribute value of `form`; every form of DWARF 2 to 5 and the GNU extensions is
    /// at least skipped correctly.
    func readValue(_ cursor: inout DWARFCursor, form: UInt64, implicitConst: Int64, unit: Unit, indirections: Int = 0)
        throws(DWARFError) -> AttributeValue {
        let offsetSize = unit.is64 ? 8 : 4
        switch form {
        case 0x01: return .address(try cursor.unsigned(size: unit.addressSize))  // addr
        case 0x03: try cursor.skip(UInt64(try cursor.u16())); return .other  // block2
        case 0x04: try cursor.skip(UInt64(try cursor.u32())); return .other  // block4
        case 0x05: return .unsigned(try cursor.unsigned(size: 2))  // data2
        case 0x06: return .unsigned(try cursor.unsigned(size: 4))  // data4
        case 0x07: return .unsigned(try cursor.unsigned(size: 8))  // data8
        case 0x08: return .string(try cursor.cString())  // string
        case 0x09, 0x18: try cursor.skip(try cursor.uleb()); return .other  // block, exprloc
        case 0x0a: try cursor.skip(UInt64(try cursor.u8())); return .other  // block1
        case 0x0b: return .unsigned(try cursor.unsigned(size: 1))  // data1
        case 0x0c: _ = try cursor.u8(); return .other  // flag
        case 0x0d: return .signed(try cursor.sleb())  // sdata
        case 0x0e: return .stringOffset(try cursor.unsigned(size: offsetSize))  // strp
        case 0x0f: return .unsigned(try cursor.uleb())  // udata
        case 0x10:  // ref_addr: the address size in DWARF 2, the offset size after
            return .reference(try cursor.unsigned(size: unit.version <= 2 ? unit.addressSize : offsetSize))
        case 0x11: return .reference(UInt64(unit.offset) &+ (try cursor.unsigned(size: 1)))  // ref1
        case 0x12: return .reference(UInt64(unit.offset) &+ (try cursor.unsigned(size: 2)))  // ref2
        case 0x13: return .reference(UInt64(unit.offset) &+ (try cursor.unsigned(size: 4)))  // ref4
        case 0x14: return .reference(UInt64(unit.offset) &+ (try cursor.unsigned(size: 8)))  // ref8
        case 0x15: return .reference(UInt64(unit.offset) &+ (try cursor.uleb()))  // ref_udata
        case 0x16:  // indirect: the form comes first
            guard indirections == 0 else { throw .malformed("nested DW_FORM_indirect") }
            let actual = try cursor.uleb()
            let constant = actual == 0x21 ? try cursor.sleb() : 0
            return try readValue(&cursor, form: actual, implicitConst: constant, unit: unit, indirections: 1)
        case 0x17: return .sectionOffset(try cursor.unsigned(size: offsetSize))  // sec_offset
        case 0x19: return .other  // flag_present
        case 0x1a: return .stringIndex(try cursor.uleb())  // strx
        case 0x1b: return .addressIndex(try cursor.uleb())  // addrx
        case 0x1c: try cursor.skip(4); return .other  // ref_sup4
        case 0x1d: try cursor.skip(UInt64(offsetSize)); return .other  // strp_sup
        case 0x1e: try cursor.skip(16); return .other  // data16
        case 0x1f: return .lineStringOffset(try cursor.unsigned(size: offsetSize))  // line_strp
        case 0x20: try cursor.skip(8); return .other  // ref_sig8
        case 0x21: return .signed(implicitConst)  // implicit_const
        case 0x22: _ = try cursor.uleb(); return .other  // loclistx
        case 0x23: return .rangeListIndex(try cursor.uleb())  // rnglistx
        case 0x24: try cursor.skip(8); return .other  // ref_sup8
        case 0x25: return .stringIndex(try cursor.unsigned(size: 1))  // strx1
        case 0x26: return .stringIndex(try cursor.unsigned(size: 2))  // strx2
        case 0x27: return .stringIndex(try cursor.unsigned(size: 3))  // strx3
        case 0x28: return .stringIndex(try cursor.unsigned(size: 4))  // strx4
        case 0x29: return .addressIndex(try cursor.unsigned(size: 1))  // addrx1
        case 0x2a: return .addressIndex(try cursor.unsigned(size: 2))  // addrx2
        case 0x2b: return .addressIndex(try cursor.unsigned(size: 3))  // addrx3
        case 0x2c: return .addressIndex(try cursor.unsigned(size: 4))  // addrx4
        case 0x1f01: return .addressIndex(try cursor.uleb())  // GNU_addr_index
        case 0x1f02: return .stringIndex(try cursor.uleb())  // GNU_str_index
        case 0x1f20, 0x1f21: try cursor.skip(UInt64(offsetSize)); return .other  // GNU_ref_alt, GNU_strp_alt (dwz file)
        default: throw .malformed("form \(form)")
        }
    }

    /// An address attribute's value, through `.debug_addr` for an index.
    func address(_ value: AttributeValue, unit: Unit) -> UInt64? {
        switch value {
        case .address(let a): return a
        case .addressIndex(let index): return indexedAddress(index, unit: unit)
        default: return nil
        }
    }

    func indexedAddress(_ index: UInt64, unit: Unit) -> UInt64? {
        let (scaled, o1) = index.multipliedReportingOverflow(by: UInt64(unit.addressSize))
        let (at, o2) = unit.addrBase.addingReportingOverflow(scaled)
        guard !o1, !o2, at < UInt64(sections.addr.count) else { return nil }
        var cursor = DWARFCursor(sections.addr, at: Int(at))
        return try? cursor.unsigned(size: unit.addressSize)
    }

    /// A string attribute's value, from wherever its form keeps it.
    func string(_ value: AttributeValue, unit: Unit) -> String? {
        switch value {
        case .string(let bytes): return bytes.count <= 4096 ? String(decoding: bytes, as: UTF8.self) : nil
        case .stringOffset(let offset): return dwarfString(sections.str, at: offset)
        case .lineStringOffset(let offset): return dwarfString(sections.lineStr, at: offset)
        case .stringIndex(let index):
            let size = UInt64(unit.is64 ? 8 : 4)
            let (scaled, o1) = index.multipliedReportingOverflow(by: size)
            let (at, o2) = unit.strOffsetsBase.addingReportingOverflow(scaled)
            guard !o1, !o2, at < UInt64(sections.strOffsets.count) else { return nil }
            var cursor = DWARFCursor(sections.strOffsets, at: Int(at))
            guard let offset = try? cursor.unsigned(size: Int(size)) else { return nil }
            return dwarfString(sections.str, at: offset)
        default: return nil
        }
    }

    // MARK: - Ranges

    /// The code ranges of a DIE: `DW_AT_low_pc` with `DW_AT_high_pc` (an address, or a length in a
    /// constant form), or `DW_AT_ranges`.
    func codeRanges(_ values: [(name: UInt64, value: AttributeValue)], unit: Unit) -> [Range<UInt64>] {
        var low: UInt64?
        var high: AttributeValue?
        var ranges: AttributeValue?
        for (name, value) in values {
            switch name {
            case 0x11: low = address(value, unit: unit)
            case 0x12: high = value
            case 0x55: ranges = value
            default: break
            }
        }
        if let ranges { return rangeList(ranges, unit: unit) }
        guard let low, let high else { return [] }
        let end: UInt64?
        switch high {
        case .address, .addressIndex: end = address(high, unit: unit)
        default: end = high.constant.flatMap { length in
            let (sum, overflow) = low.addingReportingOverflow(length)
            return overflow ? nil : sum
        }
        }
        guard let end, end > low else { return [] }
        return [low..<end]
    }

    /// A range list: `.debug_ranges` before DWARF 5, `.debug_rnglists` from it.
    func rangeList(_ value: AttributeValue, unit: Unit) -> [Range<UInt64>] {
        var result: [Range<UInt64>] = []
        func add(_ start: UInt64, _ end: UInt64) {
            if end > start, result.count < DWARFLimits.rangesPerEntry { result.append(start..<end) }
        }
        if unit.version < 5 {
            guard let offset = value.offset, offset < UInt64(sections.ranges.count) else { return [] }
            var cursor = DWARFCursor(sections.ranges, at: Int(offset))
            var base = unit.lowPC
            let mask: UInt64 = unit.addressSize == 8 ? .max : 0xffff_ffff
            while result.count < DWARFLimits.rangesPerEntry, rangeEntriesLeft > 0,
                  let start = try? cursor.unsigned(size: unit.addressSize), let end = try? cursor.unsigned(size: unit.addressSize) {
                rangeEntriesLeft -= 1
                if start == 0 && end == 0 { break }
                if start == mask { base = end; continue }
                add(base &+ start, base &+ end)
            }
            return result
        }
        var offset: UInt64
        switch value {
        case .rangeListIndex(let index):
            guard let base = unit.rnglistsBase else { return [] }
            let size = UInt64(unit.is64 ? 8 : 4)
            let (scaled, o1) = index.multipliedReportingOverflow(by: size)
            let (at, o2) = base.addingReportingOverflow(scaled)
            guard !o1, !o2, at < UInt64(sections.rnglists.count) else { return [] }
            var cursor = DWARFCursor(sections.rnglists, at: Int(at))
            guard let relative = try? cursor.unsigned(size: Int(size)) else { return [] }
            let (sum, o3) = base.addingReportingOverflow(relative)
            guard !o3 else { return [] }
            offset = sum
        default:
            guard let direct = value.offset else { return [] }
            offset = direct
        }
        guard offset < UInt64(sections.rnglists.count) else { return [] }
        var cursor = DWARFCursor(sections.rnglists, at: Int(offset))
        var base = unit.lowPC
        do throws(DWARFError) {
            while result.count < DWARFLimits.rangesPerEntry, rangeEntriesLeft > 0 {
                rangeEntriesLeft -= 1
                switch try cursor.u8() {
                case 0: return result  // end_of_list
                case 1: base = indexedAddress(try cursor.uleb(), unit: unit) ?? base  // base_addressx
                case 2:  // startx_endx
                    let start = indexedAddress(try cursor.uleb(), unit: unit), end = indexedAddress(try cursor.uleb(), unit: unit)
                    if let start, let end { add(start, end) }
                case 3:  // startx_length
                    let start = indexedAddress(try cursor.uleb(), unit: unit), length = try cursor.uleb()
                    if let start { add(start, start &+ length) }
                case 4:  // offset_pair
                    let start = try cursor.uleb(), end = try cursor.uleb()
                    add(base &+ start, base &+ end)
                case 5: base = try cursor.unsigned(size: unit.addressSize)  // base_address
                case 6:  // start_end
                    let start = try cursor.unsigned(size: unit.addressSize), end = try cursor.unsigned(size: unit.addressSize)
                    add(start, end)
                case 7:  // start_length
                    let start = try cursor.unsigned(size: unit.addressSize), length = try cursor.uleb()
                    add(start, start &+ length)
                default: return result
                }
            }
        } catch {}
        return result
    }

    // MARK: - Functions and inlined calls

    /// The subprogram and inlined subroutines of unit `index` whose code contains `address`,
    /// innermost first, up to the first real (not inlined) function.
    ///
    /// One walk over the unit's DIEs that jumps over what cannot hold the address, where a DIE
    /// says where its next sibling starts (`DW_AT_sibling`, only forward and inside the unit): a
    /// type's members, a function or lexical block whose code is elsewhere, a function without
    /// code (a declaration, an abstract instance). A function's code lies within its ranges, so
    /// the walk ends when the outermost function containing the address ends, as libdw's does;
    /// the innermost entry is the last containing one in DIE order. (A GCC nested function,
    /// whose DIE lies inside its outer function's, is not looked for there.)
    private func inlineChain(_ index: Int, address: UInt64) -> [FunctionEntry] {
        let unit = unit(index)
        guard let table = abbrevTable(unit) else { return [] }
        var cursor = unitCursor(index, at: unit.firstDIE)
        // For each open DIE with children: whether it is a function containing the address.
        var open: [Bool] = []
        // The open functions containing the address, outermost first.
        var containing: [FunctionEntry] = []
        var chain: [FunctionEntry] = []
        var values: [(name: UInt64, value: AttributeValue)] = []
        // Many DIEs may share one long range list: the ranges read in one walk are bounded.
        var rangesLeft = DWARFLimits.rangesPerUnit
        do throws(DWARFError) {
            while !cursor.isAtEnd {
                let dieOffset = cursor.offset
                let code = try cursor.uleb()
                if code == 0 {
                    guard let wasContaining = open.popLast() else { break }
                    if wasContaining {
                        containing.removeLast()
                        if containing.isEmpty { break }
                    }
                    continue
                }
                let step = table.step(code)
                guard step.flags & AbbrevStep.known != 0 else { throw .malformed("abbreviation \(code)") }
                let hasChildren = step.flags & AbbrevStep.hasChildren != 0
                let hasCode = step.flags & AbbrevStep.hasCode != 0
                // A subtree that holds no code is jumped over by the DIE's sibling, which is read below.
                var skip = hasChildren && step.flags & AbbrevStep.holdsNoCode != 0
                if !hasCode, !skip, step.size >= 0 {
                    // Nothing of it is needed (a namespace, or a DIE without children or code).
                    try cursor.skip(UInt64(step.size))
                    if hasChildren {
                        guard open.count < DWARFLimits.depth else { break }
                        open.append(false)
                    }
                    continue
                }
                guard let abbrev = table[code] else { throw .malformed("abbreviation \(code)") }
                let tag = abbrev.tag
                let isFunction = tag == 0x2e || tag == 0x1d  // subprogram, inlined_subroutine
                values.removeAll(keepingCapacity: true)
                var sibling: UInt64?
                // Only its code ranges, its call site and its sibling are read.
                for spec in abbrev.attributes {
                    let needed = spec.name == 0x01 || (hasCode && Self.isCodeAttribute(spec.name))
                    if !needed, let size = spec.size {
                        try cursor.skip(UInt64(size))
                        continue
                    }
                    let value = try readValue(&cursor, form: spec.form, implicitConst: spec.implicitConst, unit: unit)
                    if spec.name == 0x01 {  // sibling
                        if case .reference(let target) = value { sibling = target }
                    } else if needed {
                        values.append((spec.name, value))
                    }
                }
                var contains = false
                if hasCode {
                    let ranges = codeRanges(values, unit: unit)
                    rangesLeft -= ranges.count
                    if rangesLeft < 0 { break }
                    contains = ranges.contains { $0.contains(address) }
                    // A lexical block without ranges may still hold functions with code.
                    if !contains, isFunction || !ranges.isEmpty { skip = hasChildren }
                }
                if skip, let sibling, sibling > UInt64(cursor.offset), sibling <= UInt64(unit.end) {
                    cursor.offset = Int(sibling)
                    continue
                }
                let isEntry = contains && isFunction
                if isEntry {
                    var entry = FunctionEntry(isInlined: tag == 0x1d, dieOffset: dieOffset)
                    for (name, value) in values {
                        switch name {
                        case 0x58: entry.callFile = value.constant  // call_file
                        case 0x59: entry.callLine = value.constant  // call_line
                        case 0x57: entry.callColumn = value.constant  // call_column
                        default: break
                        }
                    }
                    chain = [entry]
                    if entry.isInlined {
                        for outer in containing.reversed() where chain.count <= DWARFLimits.depth {
                            chain.append(outer)
                            if !outer.isInlined { break }
                        }
                    }
                    if abbrev.hasChildren { containing.append(entry) } else if containing.isEmpty { break }
                }
                if abbrev.hasChildren {
                    guard open.count < DWARFLimits.depth else { break }
                    open.append(isEntry)
                }
            }
        } catch {}
        return chain
    }

    /// The attributes of a function or lexical block that the walk reads: low_pc, high_pc,
    /// ranges, call_column, call_file, call_line.
    static func isCodeAttribute(_ name: UInt64) -> Bool {
        switch name {
        case 0x11, 0x12, 0x55, 0x57, 0x58, 0x59: return true
        default: return false
        }
    }

    /// A function's name, as elfutils and LLVM name it: its linkage name (`DW_AT_linkage_name`,
    /// the symbol's name) if it or its abstract origin or specification has one, else its
    /// `DW_AT_name`, found the same way.
    private func name(_ unitIndex: Int, dieOffset: Int) -> String? {
        var offset = UInt64(dieOffset)
        var plainName: String?
        for _ in 0..<DWARFLimits.nameHops {
            guard let owner = owningUnit(ofDIE: offset) else { break }
            let unit = unit(owner)
            guard let table = abbrevTable(unit) else { break }
            var cursor = unitCursor(owner, at: Int(offset))
            guard let code = try? cursor.uleb(), code != 0, let abbrev = table[code] else { break }
            var next: UInt64?
            for spec in abbrev.attributes {
                guard let value = try? readValue(&cursor, form: spec.form, implicitConst: spec.implicitConst, unit: unit) else {
                    return plainName
                }
                switch spec.name {
                case 0x6e, 0x2007:  // linkage_name, MIPS_linkage_name
                    if let linkage = string(value, unit: unit) { return linkage }
                case 0x03: if plainName == nil { plainName = string(value, unit: unit) }  // name
                case 0x31, 0x47:  // abstract_origin, specification
                    if case .reference(let target) = value, next == nil { next = target }
                default: break
                }
            }
            guard let next else { break }
            offset = next
        }
        return plainName
    }

    /// The unit whose DIEs include `offset` of `.debug_info`.
    private func owningUnit(ofDIE offset: UInt64) -> Int? {
        var low = 0, high = units.count
        while low < high {
            let mid = (low + high) / 2
            if UInt64(units[mid].offset) <= offset { low = mid + 1 } else { high = mid }
        }
        let i = low - 1
        guard i >= 0, offset >= UInt64(units[i].firstDIE), offset < UInt64(units[i].end) else { return nil }
        return i
    }
}
