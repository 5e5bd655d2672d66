import Foundation
import Testing
import VictimSupport

@testable import PythonRuntime

/// The line table decoders, on tables CPython compiled for
///
///     def f(x):          # line 2
///         y = x + 1
///         if y:
///             return [
///                 y,
///                 x]
///         return None
///
/// with the lines CPython's own decoders give (`dis.findlinestarts` on 3.8, `co_lines()` on 3.10
/// and 3.11), and on tables made up to hit the corner cases.
struct LineTableTests {

    @Test func lnotab38() {
        let table = bytes(hex: "000108010402020102fe0403")
        // findlinestarts: (0, 3), (8, 4), (12, 6), (14, 7), (16, 5), (20, 8); 24 bytes of code.
        let expected = [0: 3, 6: 3, 8: 4, 10: 4, 12: 6, 14: 7, 16: 5, 18: 5, 20: 8, 22: 8]
        for (offset, line) in expected {
            #expect(LineTable.lnotab(table, firstLine: 2, offset: offset) == line, "offset \(offset)")
        }
        #expect(LineTable.lnotab(table, firstLine: 2, offset: -1) == 2)
        #expect(LineTable.lnotab([], firstLine: 7, offset: 10) == 7)
        // A truncated pair is ignored, as CPython ignores it.
        #expect(LineTable.lnotab([4], firstLine: 7, offset: 10) == 7)
    }

    @Test func linetable310() {
        let table = bytes(hex: "080104010202020104fe0403")
        // co_lines: (0, 8, 3), (8, 12, 4), (12, 14, 6), (14, 16, 7), (16, 20, 5), (20, 24, 8).
        let expected = [0: 3, 6: 3, 8: 4, 10: 4, 12: 6, 14: 7, 16: 5, 18: 5, 20: 8, 22: 8]
        for (offset, line) in expected {
            #expect(LineTable.linetable310(table, firstLine: 2, offset: offset) == line, "offset \(offset)")
        }
        #expect(LineTable.linetable310(table, firstLine: 2, offset: 24) == nil)
        #expect(LineTable.linetable310(table, firstLine: 2, offset: -1) == 2)
        // -128: a range without a line; a zero-length entry only moves the line.
        let noLine: [UInt8] = [4, 1, 4, 0x80, 0, 5, 4, 1]
        #expect(LineTable.linetable310(noLine, firstLine: 10, offset: 2) == 11)
        #expect(LineTable.linetable310(noLine, firstLine: 10, offset: 6) == nil)
        #expect(LineTable.linetable310(noLine, firstLine: 10, offset: 9) == 17)
    }

    @Test func locationTable311() {
        let table = bytes(hex: "8000d80809884189058041d80708f00003050fe00c0dd80c0df00502100ff00002090ff006000c108834")
        let ranges: [(Int, Int, Int)] = [(0, 2, 2), (2, 4, 3), (4, 6, 3), (6, 10, 3), (10, 12, 3), (12, 14, 4), (14, 16, 4),
                                         (16, 18, 6), (18, 20, 7), (20, 22, 5), (22, 24, 5), (24, 26, 8), (26, 28, 8)]
        for (start, end, line) in ranges {
            for offset in stride(from: start, to: end, by: 2) {
                #expect(LineTable.locationTable(table, firstLine: 2, offset: offset) == line, "offset \(offset)")
            }
        }
        #expect(LineTable.locationTable(table, firstLine: 2, offset: 28) == nil)
        #expect(LineTable.locationTable(table, firstLine: 2, offset: -1) == 2)
        // Kind 15 (no location) has no line; a long form (14) moves the line by a signed varint:
        // 0x07 = -3 (bit 0 is the sign), then end line, column, end column.
        let odd: [UInt8] = [0xf8, 0xf0, 0x07, 0, 1, 2, 0xe8, 0x04]
        #expect(LineTable.locationTable(odd, firstLine: 20, offset: 0) == nil)
        #expect(LineTable.locationTable(odd, firstLine: 20, offset: 2) == 17)
        #expect(LineTable.locationTable(odd, firstLine: 20, offset: 4) == 19)
        // A table that does not start with an entry is refused, not decoded.
        #expect(LineTable.locationTable([0x12, 0x80], firstLine: 1, offset: 0) == nil)
    }

    @Test func varints() {
        #expect(LineTable.signedVarint([0x04], at: 0) == 2)
        #expect(LineTable.signedVarint([0x05], at: 0) == -2)
        // 6 bits a byte, least significant first: 0x41 0x01 = 1 + (1 << 6) = 65 -> -32.
        #expect(LineTable.signedVarint([0x41, 0x01], at: 0) == -32)
        #expect(LineTable.signedVarint([0x41], at: 0) == nil)
    }
}
