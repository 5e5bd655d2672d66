#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why DWARF data could not be read. Every reader of debug information treats it as absent
/// then: DWARF comes from files the tool does not trust.
enum DWARFError: Error, Equatable {
    /// A read would go past the end of its unit or section.
    case truncated
    /// A field has a value the format does not allow (or this reader does not support).
    case malformed(String)
}

/// Reads one section's bytes in order, every read checked against `end`: a field that is not
/// all there throws `.truncated` instead of reading what follows. Offsets are the section's, also
/// over a part of it read on its own (a unit, a line program): `bytes` starts at offset `base`.
struct DWARFCursor {
    let bytes: [UInt8]
    let base: Int
    var offset: Int
    let end: Int

    /// A cursor over section offsets `offset..<end` of `bytes`, which hold the section's bytes
    /// from offset `base` (`end` clamped to them).
    init(_ bytes: [UInt8], base: Int = 0, at offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.base = base
        self.end = min(end ?? base + bytes.count, base + bytes.count)
        self.offset = min(max(base, offset), self.end)
    }

    var remaining: Int { end - offset }
    var isAtEnd: Bool { offset >= end }

    mutating func u8() throws(DWARFError) -> UInt8 {
        guard offset < end else { throw .truncated }
        defer { offset += 1 }
        return bytes[offset - base]
    }

    /// A little-endian unsigned integer of `size` bytes (1 to 8).
    mutating func unsigned(size: Int) throws(DWARFError) -> UInt64 {
        guard size >= 1, size <= 8 else { throw .malformed("integer of \(size) bytes") }
        guard remaining >= size else { throw .truncated }
        var value: UInt64 = 0
        let at = offset - base
        for i in 0..<size { value |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
        offset += size
        return value
    }

    mutating func u16() throws(DWARFError) -> UInt16 { UInt16(try unsigned(size: 2)) }
    mutating func u32() throws(DWARFError) -> UInt32 { UInt32(try unsigned(size: 4)) }
    mutating func u64() throws(DWARFError) -> UInt64 { try unsigned(size: 8) }

    /// Unsigned LEB128; bits beyond the 64th are dropped. One byte per iteration: it ends.
    mutating func uleb() throws(DWARFError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try u8()
            if shift < 64 { value |= UInt64(byte & 0x7f) << shift }
            shift += 7
            if byte & 0x80 == 0 { return value }
        }
    }

    /// Signed LEB128; bits beyond the 64th are dropped.
    mutating func sleb() throws(DWARFError) -> Int64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var byte: UInt8 = 0
        repeat {
            byte = try u8()
            if shift < 64 { value |= UInt64(byte & 0x7f) << shift }
            shift += 7
        } while byte & 0x80 != 0
        if shift < 64, byte & 0x40 != 0 { value |= ~0 << shift }
        return Int64(bitPattern: value)
    }

    /// A section offset: 4 bytes in 32-bit DWARF, 8 in 64-bit DWARF.
    mutating func offset(is64: Bool) throws(DWARFError) -> UInt64 {
        try unsigned(size: is64 ? 8 : 4)
    }

    /// An `initial_length`: the unit's length and whether it is 64-bit DWARF.
    mutating func unitLength() throws(DWARFError) -> (length: UInt64, is64: Bool) {
        let first = try u32()
        if first == 0xffff_ffff { return (try u64(), true) }
        guard first < 0xffff_fff0 else { throw .malformed("reserved unit length \(first)") }
        return (UInt64(first), false)
    }

    mutating func skip(_ count: UInt64) throws(DWARFError) {
        guard count <= UInt64(remaining) else { throw .truncated }
        offset += Int(count)
    }

    /// A NUL-terminated string's bytes (without the NUL), which must end before `end`.
    mutating func cString() throws(DWARFError) -> ArraySlice<UInt8> {
        let start = offset - base
        guard let nul = bytes.withUnsafeBytes({ nulIndex(in: UnsafeRawBufferPointer(rebasing: $0[..<(end - base)]), from: start, maxLength: .max) })
        else { throw .truncated }
        offset = base + nul + 1
        return bytes[start..<nul]
    }
}

/// The NUL-terminated string at `offset` of a string section (`.debug_str`, `.debug_line_str`),
/// if it ends within `maxLength` bytes.
func dwarfString(_ section: [UInt8], at offset: UInt64, maxLength: Int = 4096) -> String? {
    guard offset < UInt64(section.count) else { return nil }
    let start = Int(offset)
    guard let end = section.withUnsafeBytes({ nulIndex(in: $0, from: start, maxLength: maxLength) }) else { return nil }
    return String(decoding: section[start..<end], as: UTF8.self)
}
