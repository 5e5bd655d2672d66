import Foundation
import Testing
@testable import Symbols

/// Little-endian bytes, for building DWARF by hand.
struct DWARFBytes {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt16(i)))) } }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
    mutating func uleb(_ v: UInt64) {
        var value = v
        repeat {
            var byte = UInt8(value & 0x7f)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            bytes.append(byte)
        } while value != 0
    }

    /// A DWARF 4 compile unit: header (abbreviations at `abbrevOffset`), then `body`.
    static func unit(abbrevOffset: UInt32, body: [UInt8]) -> [UInt8] {
        var unit = DWARFBytes()
        unit.u32(UInt32(2 + 4 + 1 + body.count))
        unit.u16(4)
        unit.u32(abbrevOffset)
        unit.u8(8)
        return unit.bytes + body
    }

    /// A line program (DWARF 4) of `sequences` sequences of `rows` rows each, 16 bytes apart,
    /// sequence after sequence from 0x1000.
    static func lineProgram(sequences: Int, rows: Int) -> [UInt8] {
        var program = DWARFBytes()
        var address: UInt64 = 0x1000
        for _ in 0..<sequences {
            program.u8(0); program.uleb(9); program.u8(2); program.u64(address)  // set_address
            for _ in 0..<rows {
                program.u8(1)  // copy
                program.u8(2); program.uleb(16)  // advance_pc 16
                address += 16
            }
            program.u8(0); program.uleb(1); program.u8(1)  // end_sequence
            address += 16
        }
        var header = DWARFBytes()
        header.u8(1)  // minimum_instruction_length
        header.u8(1)  // maximum_operations_per_instruction
        header.u8(1)  // default_is_stmt
        header.u8(0xfb)  // line_base -5
        header.u8(14)  // line_range
        header.u8(13)  // opcode_base
        header.bytes += [0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1]  // standard_opcode_lengths
        header.u8(0)  // no include directories
        header.bytes += Array("a.c".utf8) + [0, 0, 0, 0]  // one file
        header.u8(0)  // end of files
        var unit = DWARFBytes()
        unit.u32(UInt32(2 + 4 + header.bytes.count + program.bytes.count))
        unit.u16(4)
        unit.u32(UInt32(header.bytes.count))
        return unit.bytes + header.bytes + program.bytes
    }
}

/// DWARF built to make the reader do work, or hold memory, out of proportion to its size.
@Suite struct HostileDWARFTests {
    func timed(_ body: () -> Void) -> Double {
        let start = Date()
        body()
        return Date().timeIntervalSince(start)
    }

    /// 20,000 units share one line program of 500 sequences (and have no ranges of their own):
    /// the program used to be decoded once per unit, and its sequences copied into each unit's
    /// ranges (10 million).
    @Test func unitsSharingOneLineProgram() {
        var abbrev = DWARFBytes()
        abbrev.uleb(1); abbrev.uleb(0x11); abbrev.u8(0)  // compile_unit, no children
        abbrev.uleb(0x10); abbrev.uleb(0x17)  // stmt_list, sec_offset
        abbrev.uleb(0); abbrev.uleb(0); abbrev.uleb(0)
        var body = DWARFBytes()
        body.uleb(1); body.u32(0)
        var sections = DWARFSections()
        sections.abbrev = abbrev.bytes
        sections.line = DWARFBytes.lineProgram(sequences: 500, rows: 4)
        let unit = DWARFBytes.unit(abbrevOffset: 0, body: body.bytes)
        sections.info = Array([[UInt8]](repeating: unit, count: 20_000).joined())
        var found: SourceInfo?
        let seconds = timed {
            let info = DebugInfo(sections: sections)
            found = info.sourceInfo(at: 0x1008)
        }
        #expect(seconds < 10, "took \(seconds) s")
        #expect(found?.location?.line == 1)
    }

    /// 30,000 subprograms in one unit share one range list of 4,096 ranges: each used to copy all
    /// of them (120 million ranges).
    @Test func subprogramsSharingOneRangeList() {
        var abbrev = DWARFBytes()
        abbrev.uleb(1); abbrev.uleb(0x11); abbrev.u8(1)  // compile_unit, children
        abbrev.uleb(0x11); abbrev.uleb(0x01)  // low_pc, addr
        abbrev.uleb(0x12); abbrev.uleb(0x06)  // high_pc, data4
        abbrev.uleb(0); abbrev.uleb(0)
        abbrev.uleb(2); abbrev.uleb(0x2e); abbrev.u8(0)  // subprogram, no children
        abbrev.uleb(0x55); abbrev.uleb(0x17)  // ranges, sec_offset
        abbrev.uleb(0); abbrev.uleb(0); abbrev.uleb(0)
        var body = DWARFBytes()
        body.uleb(1); body.u64(0x1000); body.u32(0x100000)
        for _ in 0..<30_000 { body.uleb(2); body.u32(0) }
        body.uleb(0)
        var ranges = DWARFBytes()
        for i in 0..<4096 { ranges.u64(0x1000 + UInt64(i) * 32); ranges.u64(0x1000 + UInt64(i) * 32 + 16) }
        ranges.u64(0); ranges.u64(0)
        var sections = DWARFSections()
        sections.abbrev = abbrev.bytes
        sections.ranges = ranges.bytes
        sections.info = DWARFBytes.unit(abbrevOffset: 0, body: body.bytes)
        sections.line = DWARFBytes.lineProgram(sequences: 1, rows: 64)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let before = usage.ru_maxrss
        let seconds = timed { _ = DebugInfo(sections: sections).sourceInfo(at: 0x1008) }
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #expect(seconds < 10, "took \(seconds) s")
        #expect(usage.ru_maxrss - before < 512 << 10, "peak grew by \(usage.ru_maxrss - before) KiB")
    }

    /// 20,000 subprograms share a range list of 50,000 base address selections and no range:
    /// nothing to keep, but each used to read it all (a billion entries).
    @Test func subprogramsSharingARangeListOfBaseAddresses() {
        var abbrev = DWARFBytes()
        abbrev.uleb(1); abbrev.uleb(0x11); abbrev.u8(1)  // compile_unit, children
        abbrev.uleb(0x11); abbrev.uleb(0x01)  // low_pc, addr
        abbrev.uleb(0x12); abbrev.uleb(0x06)  // high_pc, data4
        abbrev.uleb(0x10); abbrev.uleb(0x17)  // stmt_list, sec_offset
        abbrev.uleb(0); abbrev.uleb(0)
        abbrev.uleb(2); abbrev.uleb(0x2e); abbrev.u8(0)  // subprogram, no children
        abbrev.uleb(0x55); abbrev.uleb(0x17)  // ranges, sec_offset
        abbrev.uleb(0); abbrev.uleb(0); abbrev.uleb(0)
        var body = DWARFBytes()
        body.uleb(1); body.u64(0x1000); body.u32(0x100000); body.u32(0)
        for _ in 0..<20_000 { body.uleb(2); body.u32(0) }
        body.uleb(0)
        var ranges = DWARFBytes()
        for i in 0..<50_000 { ranges.u64(.max); ranges.u64(0x1000 + UInt64(i)) }
        ranges.u64(0); ranges.u64(0)
        var sections = DWARFSections()
        sections.abbrev = abbrev.bytes
        sections.ranges = ranges.bytes
        sections.info = DWARFBytes.unit(abbrevOffset: 0, body: body.bytes)
        sections.line = DWARFBytes.lineProgram(sequences: 1, rows: 64)
        var found: SourceInfo?
        let seconds = timed { found = DebugInfo(sections: sections).sourceInfo(at: 0x1008) }
        #expect(seconds < 10, "took \(seconds) s")
        #expect(found?.location?.line == 1)
    }

    /// 30,000 units whose abbreviation tables start at successive entries of one long table
    /// without an end: each table used to be read to the section's end (quadratic).
    @Test func unitsWithOverlappingAbbreviationTables() {
        var abbrev = DWARFBytes()
        var offsets: [UInt32] = []
        for code in 1...30_000 {
            offsets.append(UInt32(abbrev.bytes.count))
            abbrev.uleb(UInt64(code)); abbrev.uleb(0x11); abbrev.u8(0)
            abbrev.uleb(0x11); abbrev.uleb(0x01)  // low_pc, addr
            abbrev.uleb(0); abbrev.uleb(0)
        }
        var info: [UInt8] = []
        for (index, offset) in offsets.enumerated() {
            var body = DWARFBytes()
            body.uleb(UInt64(index + 1)); body.u64(0x1000)
            info += DWARFBytes.unit(abbrevOffset: offset, body: body.bytes)
        }
        var sections = DWARFSections()
        sections.abbrev = abbrev.bytes
        sections.info = info
        let seconds = timed { _ = DebugInfo(sections: sections).sourceInfo(at: 0x1008) }
        #expect(seconds < 10, "took \(seconds) s")
    }
}
