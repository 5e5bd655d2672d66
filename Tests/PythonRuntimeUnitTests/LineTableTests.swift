import Foundation
import Testing

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
    static func bytes(_ hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    @Test func lnotab38() {
        let table = Self.bytes("000108010402020102fe0403")
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
        let table = Self.bytes("080104010202020104fe0403")
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
        let table = Self.bytes("8000d80809884189058041d80708f00003050fe00c0dd80c0df00502100ff00002090ff006000c108834")
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

/// Every instruction offset of every function in a few stdlib modules, decoded here and by the
/// interpreter itself (`co_lines()`, or `dis.findlinestarts` before 3.10).
@Suite(.serialized)
struct LiveLineTableTests {
    static let script = """
        import dis, json, sys, types, threading, queue, json.decoder, importlib._bootstrap as b
        def codes(c):
            yield c
            for k in c.co_consts:
                if isinstance(k, types.CodeType): yield from codes(k)
        out = []
        for m in (threading, queue, json.decoder, b):
            for v in vars(m).values():
                for f in ([v] + list(vars(v).values()) if isinstance(v, type) else [v]):
                    f = getattr(f, "__func__", f)
                    if not isinstance(f, types.FunctionType): continue
                    for c in codes(f.__code__):
                        if sys.version_info >= (3, 10):
                            table, lines = c.co_linetable, [[s, e, l] for s, e, l in c.co_lines()]
                        else:
                            starts = list(dis.findlinestarts(c)) + [(len(c.co_code), None)]
                            table = c.co_lnotab
                            lines = [[s, e, l] for (s, l), (e, _) in zip(starts, starts[1:])]
                        out.append({"first": c.co_firstlineno, "table": table.hex(), "lines": lines})
        print(json.dumps(out))
        """

    struct Code: Decodable {
        var first: Int
        var table: String
        var lines: [[Int?]]
    }

    static func check(_ python: Interpreter, minor: Int) throws {
        let result = try runCommand(python.path, ["-c", script])
        #expect(result.status == 0, "\(result.output.prefix(500))")
        let codes = try JSONDecoder().decode([Code].self, from: Data(result.stdout.utf8))
        #expect(codes.count > 200)
        var checked = 0
        for code in codes {
            let table = LineTableTests.bytes(code.table)
            for range in code.lines {
                guard let start = range[0], let end = range[1] else { continue }
                for offset in stride(from: start, to: end, by: 2) {
                    let ours: Int?
                    switch minor {
                    case ...9: ours = LineTable.lnotab(table, firstLine: code.first, offset: offset)
                    case 10: ours = LineTable.linetable310(table, firstLine: code.first, offset: offset)
                    default: ours = LineTable.locationTable(table, firstLine: code.first, offset: offset)
                    }
                    if ours != range[2] {
                        Issue.record("\(python): table \(code.table) offset \(offset): \(ours as Any) != \(range[2] as Any)")
                        return
                    }
                    checked += 1
                }
            }
        }
        #expect(checked > 5000)
    }

    @Test("3.8 lnotab", .enabled(if: Interpreter.pyenv(8) != nil, "no CPython 3.8 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func lnotab38() throws { try Self.check(Interpreter.pyenv(8)!, minor: 8) }

    @Test("3.9 lnotab", .enabled(if: Interpreter.pyenv(9) != nil, "no CPython 3.9 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func lnotab39() throws { try Self.check(Interpreter.pyenv(9)!, minor: 9) }

    @Test("3.10 linetable", .enabled(if: Interpreter.pyenv(10) != nil, "no CPython 3.10 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func linetable310() throws { try Self.check(Interpreter.pyenv(10)!, minor: 10) }

    @Test("3.11 location table", .enabled(if: Interpreter.pyenv(11) != nil, "no CPython 3.11 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func locations311() throws { try Self.check(Interpreter.pyenv(11)!, minor: 11) }

    @Test("3.12 location table", .enabled(if: Interpreter.pyenv(12) != nil, "no CPython 3.12 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func locations312() throws { try Self.check(Interpreter.pyenv(12)!, minor: 12) }

    @Test("3.13 location table", .enabled(if: Interpreter.pyenv(13) != nil, "no CPython 3.13 under pyenv (~/.pyenv/versions or $PYENV_ROOT/versions)"))
    func locations313() throws { try Self.check(Interpreter.pyenv(13)!, minor: 13) }

    @Test("3.14 location table", .enabled(if: Interpreter.sid(14) != nil, sidMissing))
    func locations314() throws { try Self.check(Interpreter.sid(14)!, minor: 14) }

    @Test("3.15 location table", .enabled(if: Interpreter.sid(15) != nil, sidMissing))
    func locations315() throws { try Self.check(Interpreter.sid(15)!, minor: 15) }

    @Test("Debian's python3 location table")
    func locationsSystem() throws {
        let python = try #require(Interpreter.system, "/usr/bin/python3 is missing")
        let minor = Int(try runCommand(python.path, ["-c", "import sys; print(sys.version_info[1])"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))!
        try Self.check(python, minor: minor)
    }
}
