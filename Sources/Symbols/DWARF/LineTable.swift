/// A source position.
public struct SourcePosition: Sendable, Hashable, CustomStringConvertible {
    /// The source file's path as the compiler recorded it (joined with its directory and the
    /// compilation directory when those are known).
    public var file: String
    /// 1-based line.
    public var line: Int
    /// 1-based column; nil when not recorded.
    public var column: Int?

    public init(file: String, line: Int, column: Int? = nil) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file.c:42`, the file's last path component.
    public var description: String {
        let name = file.split(separator: "/").last.map(String.init) ?? file
        return "\(name):\(line)"
    }
}

/// One decoded line number program (`.debug_line` unit): address ranges (sequences) and the
/// rows within them, and the file table.
struct LineTable {
    struct Row {
        var address: UInt64
        var file: UInt32
        var line: UInt32
        var column: UInt32
    }

    struct Sequence {
        var start: UInt64
        var end: UInt64
        var rows: Range<Int>
    }

    /// A name in the header as it lies there: in the program's bytes or in a string section.
    /// A header names every file a unit includes; only the few that rows are named after become
    /// strings, joined with their directory.
    enum Name {
        case bytes(ArraySlice<UInt8>)
        case lineStr(UInt64)
        case str(UInt64)
    }

    var version: UInt16 = 0
    /// File names by the program's file index (0-based in DWARF 5, 1-based before: then entry 0
    /// is unused), each with its directory's index.
    var files: [(name: Name, directory: UInt64)?] = []
    /// The directories as the header gives them (before DWARF 5, entry 0, the compilation
    /// directory, is not in the header: nil).
    var directories: [Name?] = []
    var strings = Strings()
    var compDir: String?
    var rows: [Row] = []
    /// Sorted by start address.
    var sequences: [Sequence] = []
    /// `maxEnd[i]`: the largest end among `sequences[0...i]`, to bound the backward scan when
    /// sequences overlap (code the linker dropped leaves sequences at address 0).
    var maxEnd: [UInt64] = []

    /// The path of file `index`, or nil.
    func file(_ index: UInt64) -> String? {
        guard index < UInt64(files.count), let (entry, directory) = files[Int(index)], let name = string(entry) else { return nil }
        if name.hasPrefix("/") { return name }
        guard let dir = self.directory(directory), !dir.isEmpty else { return name }
        return joinSourcePath(dir, name)
    }

    /// Directory `index`, a relative one completed: with the compilation directory before DWARF
    /// 5 (where entry 0 is the compilation directory); from DWARF 5 on, entry 0 with it, the
    /// others with entry 0.
    func directory(_ index: UInt64) -> String? {
        guard index < UInt64(directories.count) else { return nil }
        if version < 5 && index == 0 { return compDir }
        guard let dir = directories[Int(index)].flatMap(string) else { return nil }
        if dir.hasPrefix("/") { return dir }
        if version < 5 || index == 0 { return compDir.map { joinSourcePath($0, dir) } ?? dir }
        return (directory(0) ?? compDir).map { joinSourcePath($0, dir) } ?? dir
    }

    func string(_ name: Name) -> String? {
        switch name {
        case .bytes(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .lineStr(let offset): return dwarfString(strings.lineStr, at: offset)
        case .str(let offset): return dwarfString(strings.debugStr, at: offset)
        }
    }

    /// The row for `address`: the last row at or before it in the sequence that covers it; nil
    /// when no sequence covers it or the row has no line (line 0).
    func location(for address: UInt64) -> SourcePosition? {
        var low = 0, high = sequences.count
        while low < high {
            let mid = (low + high) / 2
            if sequences[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        var i = low - 1
        while i >= 0, maxEnd[i] > address {
            let sequence = sequences[i]
            if address >= sequence.start && address < sequence.end {
                return location(in: sequence, for: address)
            }
            i -= 1
        }
        return nil
    }

    private func location(in sequence: Sequence, for address: UInt64) -> SourcePosition? {
        var low = sequence.rows.lowerBound, high = sequence.rows.upperBound
        while low < high {
            let mid = (low + high) / 2
            if rows[mid].address <= address { low = mid + 1 } else { high = mid }
        }
        guard low > sequence.rows.lowerBound else { return nil }
        let row = rows[low - 1]
        guard row.line > 0, let path = file(UInt64(row.file)) else { return nil }
        return SourcePosition(file: path, line: Int(row.line), column: row.column > 0 ? Int(row.column) : nil)
    }

    /// The strings a line program header may refer to.
    struct Strings {
        var debugStr: [UInt8] = []
        var lineStr: [UInt8] = []
    }

    /// Decodes the line number program at `offset` of `.debug_line`, whose bytes from offset
    /// `base` are `section`. `compDir` (the unit's `DW_AT_comp_dir`) completes relative directories.
    init(section: [UInt8], base: Int = 0, at offset: Int, strings: Strings, compDir: String?, addressSize: Int = 8) throws(DWARFError) {
        var header = DWARFCursor(section, base: base, at: offset)
        let (length, is64) = try header.unitLength()
        guard length <= UInt64(header.remaining) else { throw .truncated }
        let unitEnd = header.offset + Int(length)
        var cursor = DWARFCursor(section, base: base, at: header.offset, end: unitEnd)
        version = try cursor.u16()
        guard (2...5).contains(version) else { throw .malformed("line table version \(version)") }
        var addressSize = addressSize
        if version >= 5 {
            addressSize = Int(try cursor.u8())
            _ = try cursor.u8()  // segment selector size
        }
        let headerLength = try cursor.offset(is64: is64)
        guard headerLength <= UInt64(cursor.remaining) else { throw .truncated }
        let programStart = cursor.offset + Int(headerLength)
        let minimumInstructionLength = UInt64(try cursor.u8())
        if version >= 4 { _ = try cursor.u8() }  // maximum operations per instruction (VLIW only)
        let defaultIsStmt = try cursor.u8() != 0
        _ = defaultIsStmt
        let lineBase = Int64(Int8(bitPattern: try cursor.u8()))
        let lineRange = UInt64(try cursor.u8())
        guard lineRange > 0 else { throw .malformed("line_range 0") }
        let opcodeBase = try cursor.u8()
        var standardLengths: [UInt8] = [0]
        for _ in 1..<max(1, Int(opcodeBase)) { standardLengths.append(try cursor.u8()) }

        // Directories and files.
        self.strings = strings
        self.compDir = compDir
        if version >= 5 {
            directories = try LineTable.entries(&cursor, is64: is64).map { $0.path }
            files = try LineTable.entries(&cursor, is64: is64).map { entry in
                entry.path.map { ($0, entry.directory) }
            }
        } else {
            // Directory 0 is the compilation directory.
            directories = [nil]
            while true {
                let name = try cursor.cString()
                if name.isEmpty { break }
                directories.append(.bytes(name))
            }
            files = [nil]
            while true {
                let name = try cursor.cString()
                if name.isEmpty { break }
                let directory = try cursor.uleb()
                _ = try cursor.uleb()  // modification time
                _ = try cursor.uleb()  // length
                files.append((.bytes(name), directory))
            }
        }

        // The program: a state machine whose rows are appended as they are emitted.
        var program = DWARFCursor(section, base: base, at: programStart, end: unitEnd)
        // A row takes at least one byte of the program: room for all of them at once (pages
        // that are not written are never touched), not a copy at each doubling.
        rows.reserveCapacity(program.remaining)
        var address: UInt64 = 0
        var file: UInt64 = 1
        var line: Int64 = 1
        var column: UInt64 = 0
        var sequenceStart = rows.count
        var rawSequences: [Sequence] = []
        func emit() {
            rows.append(Row(address: address, file: UInt32(truncatingIfNeeded: file),
                            line: UInt32(truncatingIfNeeded: max(0, line)), column: UInt32(truncatingIfNeeded: column)))
        }
        func reset() {
            address = 0
            file = 1
            line = 1
            column = 0
        }
        while !program.isAtEnd {
            let opcode = try program.u8()
            if opcode >= opcodeBase {
                let adjusted = UInt64(opcode - opcodeBase)
                address &+= (adjusted / lineRange) &* minimumInstructionLength
                line &+= lineBase &+ Int64(adjusted % lineRange)
                emit()
                continue
            }
            switch opcode {
            case 0:  // extended
                let length = try program.uleb()
                guard length > 0, length <= UInt64(program.remaining) else { throw .truncated }
                let next = program.offset + Int(length)
                let sub = try program.u8()
                switch sub {
                case 1:  // end_sequence
                    emit()
                    if rows.count - sequenceStart >= 2 {
                        rawSequences.append(Sequence(start: rows[sequenceStart].address, end: address, rows: sequenceStart..<(rows.count - 1)))
                    }
                    sequenceStart = rows.count
                    reset()
                case 2:  // set_address
                    let size = Int(length) - 1
                    address = size >= 1 && size <= 8 ? try program.unsigned(size: size) : address
                default:  // define_file, set_discriminator, vendor: skipped
                    break
                }
                program.offset = next
            case 1: emit()  // copy
            case 2: address &+= try program.uleb() &* minimumInstructionLength  // advance_pc
            case 3: line &+= try program.sleb()  // advance_line
            case 4: file = try program.uleb()  // set_file
            case 5: column = try program.uleb()  // set_column
            case 8: address &+= (UInt64(255 - opcodeBase) / lineRange) &* minimumInstructionLength  // const_add_pc
            case 9: address &+= UInt64(try program.u16())  // fixed_advance_pc
            case 6, 7, 10, 11: break  // negate_stmt, basic_block, prologue_end, epilogue_begin
            default:  // set_isa and unknown standard opcodes: skip their operands
                let operands = Int(opcode) < standardLengths.count ? standardLengths[Int(opcode)] : 0
                for _ in 0..<operands { _ = try program.uleb() }
            }
        }
        rawSequences.removeAll { $0.end <= $0.start }
        rawSequences.sort { $0.start < $1.start }
        sequences = rawSequences
        var running: UInt64 = 0
        maxEnd = sequences.map { running = max(running, $0.end); return running }
        _ = addressSize
    }

    /// A DWARF 5 directory or file name table: the entry format, then the entries.
    static func entries(_ cursor: inout DWARFCursor, is64: Bool) throws(DWARFError)
        -> [(path: Name?, directory: UInt64)] {
        let formatCount = Int(try cursor.u8())
        var format: [(content: UInt64, form: UInt64)] = []
        for _ in 0..<formatCount { format.append((try cursor.uleb(), try cursor.uleb())) }
        let count = try cursor.uleb()
        // Every entry takes at least a byte, unless the format is empty: then there is nothing
        // to read, whatever the count says.
        guard !format.isEmpty else { return [] }
        guard count <= UInt64(cursor.remaining) else { throw .truncated }
        var result: [(path: Name?, directory: UInt64)] = []
        result.reserveCapacity(Int(count))
        for _ in 0..<count {
            var path: Name?
            var directory: UInt64 = 0
            for (content, form) in format {
                let value = try lineHeaderValue(&cursor, form: form, is64: is64)
                switch content {
                case 1: path = value.string  // DW_LNCT_path
                case 2: directory = value.number ?? 0  // DW_LNCT_directory_index
                default: break
                }
            }
            result.append((path, directory))
        }
        return result
    }

    /// A value in a line table header, in one of the forms DWARF 5 allows there.
    static func lineHeaderValue(_ cursor: inout DWARFCursor, form: UInt64, is64: Bool) throws(DWARFError)
        -> (string: Name?, number: UInt64?) {
        switch form {
        case 0x08: return (.bytes(try cursor.cString()), nil)  // string
        case 0x1f: return (.lineStr(try cursor.offset(is64: is64)), nil)  // line_strp
        case 0x0e: return (.str(try cursor.offset(is64: is64)), nil)  // strp
        case 0x0b: return (nil, try cursor.unsigned(size: 1))  // data1
        case 0x05: return (nil, try cursor.unsigned(size: 2))  // data2
        case 0x06: return (nil, try cursor.unsigned(size: 4))  // data4
        case 0x07: return (nil, try cursor.unsigned(size: 8))  // data8
        case 0x0f: return (nil, try cursor.uleb())  // udata
        case 0x1e: try cursor.skip(16); return (nil, nil)  // data16 (MD5)
        case 0x09: try cursor.skip(try cursor.uleb()); return (nil, nil)  // block
        case 0x25: try cursor.skip(1); return (nil, nil)  // strx1..4: no string offsets here
        case 0x26: try cursor.skip(2); return (nil, nil)
        case 0x27: try cursor.skip(3); return (nil, nil)
        case 0x28: try cursor.skip(4); return (nil, nil)
        case 0x1a: _ = try cursor.uleb(); return (nil, nil)  // strx
        default: throw .malformed("form \(form) in a line table header")
        }
    }
}

/// `dir/name`, without `.` components and with `x/..` folded, as a compiler's relative paths
/// (`./csu` and `../sysdeps/x86/abi-note.c`) are best read.
func joinSourcePath(_ directory: String, _ name: String) -> String {
    let absolute = directory.hasPrefix("/")
    var parts: [Substring] = []
    for part in (directory + "/" + name).split(separator: "/") {
        if part == "." { continue }
        if part == "..", let last = parts.last, last != ".." {
            parts.removeLast()
            continue
        }
        if part == "..", absolute, parts.isEmpty { continue }
        parts.append(part)
    }
    return (absolute ? "/" : "") + parts.joined(separator: "/")
}
