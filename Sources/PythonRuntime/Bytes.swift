/// Little-endian fields of a byte array (callers check bounds).
enum Bytes {
    static func u64(_ b: [UInt8], _ at: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = v << 8 | UInt64(b[at + i]) }
        return v
    }

    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in (0..<4).reversed() { v = v << 8 | UInt32(b[at + i]) }
        return v
    }

    static func u16(_ b: [UInt8], _ at: Int) -> UInt16 {
        UInt16(b[at]) | UInt16(b[at + 1]) << 8
    }

    /// A field of a struct copied whole: nil when the offset is unknown or outside the copy.
    static func u64(_ b: [UInt8], field: Int?) -> UInt64? {
        guard let field, field >= 0, field + 8 <= b.count else { return nil }
        return u64(b, field)
    }

    static func i32(_ b: [UInt8], field: Int?) -> Int32? {
        guard let field, field >= 0, field + 4 <= b.count else { return nil }
        return Int32(bitPattern: u32(b, field))
    }

    static func u8(_ b: [UInt8], field: Int?) -> UInt8? {
        guard let field, field >= 0, field < b.count else { return nil }
        return b[field]
    }
}
