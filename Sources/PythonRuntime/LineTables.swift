/// CPython's line tables: which source line a bytecode offset belongs to. One decoder per format,
/// each a pure function of the table's bytes, following `PyCode_Addr2Line` of its versions.
/// Offsets are in bytes from the start of the bytecode; a negative offset (a frame that has not
/// started) is the code's first line, as in CPython. nil: the table gives no line there.
public enum LineTable {
    /// 3.8–3.9 `co_lnotab`: (bytecode increment, signed line increment) byte pairs; the line of
    /// `offset` is the first line plus the increments of every pair whose address is ≤ `offset`.
    public static func lnotab(_ table: [UInt8], firstLine: Int, offset: Int) -> Int? {
        guard offset >= 0 else { return firstLine }
        var line = firstLine
        var address = 0
        var i = 0
        while i + 1 < table.count {
            address += Int(table[i])
            if address > offset { break }
            line += Int(Int8(bitPattern: table[i + 1]))
            i += 2
        }
        return line
    }

    /// 3.10 `co_linetable` (PEP 626): (unsigned bytecode length, signed line delta) byte pairs, each
    /// a range following the previous one; a delta of -128 means the range has no line. Ranges of
    /// length 0 only move the line.
    public static func linetable310(_ table: [UInt8], firstLine: Int, offset: Int) -> Int? {
        guard offset >= 0 else { return firstLine }
        var line = firstLine
        var end = 0
        var i = 0
        while i + 1 < table.count {
            let start = end
            end += Int(table[i])
            let delta = Int8(bitPattern: table[i + 1])
            i += 2
            var rangeLine: Int? = nil
            if delta != -128 {
                line += Int(delta)
                rangeLine = line
            }
            if start == end { continue }
            if offset >= start && offset < end { return rangeLine }
        }
        return nil
    }

    /// 3.11+ location table (`co_linetable`): entries of one header byte (bit 7 set; bits 3–6 the
    /// kind, bits 0–2 the length in code units minus one) followed by bytes without bit 7. Kind 15:
    /// no location; 14 (long form) and 13 (no columns): a signed varint line delta comes first;
    /// 10–12: the line moves by kind − 10; 0–9: same line.
    public static func locationTable(_ table: [UInt8], firstLine: Int, offset: Int) -> Int? {
        guard offset >= 0 else { return firstLine }
        var line = firstLine
        var end = 0
        var i = 0
        while i < table.count {
            let header = table[i]
            guard header & 0x80 != 0 else { return nil }  // not at an entry: a corrupt table
            let kind = (header >> 3) & 15
            let start = end
            end += (Int(header & 7) + 1) * 2
            switch kind {
            case 13, 14: line += signedVarint(table, at: i + 1) ?? 0
            case 11, 12: line += Int(kind) - 10
            default: break
            }
            if offset >= start && offset < end { return kind == 15 ? nil : line }
            i += 1
            while i < table.count && table[i] & 0x80 == 0 { i += 1 }
        }
        return nil
    }

    /// The location table's varint: 6 bits a byte, least significant first, bit 6 = more follow;
    /// the signed form keeps the sign in bit 0.
    static func signedVarint(_ table: [UInt8], at start: Int) -> Int? {
        var value = 0
        var shift = 0
        var i = start
        while i < table.count, shift < 60 {
            let byte = table[i]
            i += 1
            value |= Int(byte & 63) << shift
            if byte & 64 == 0 { return value & 1 != 0 ? -(value >> 1) : value >> 1 }
            shift += 6
        }
        return nil
    }
}
