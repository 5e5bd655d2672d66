import Foundation
import Testing
import VictimSupport

@testable import PythonRuntime

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
            let table = bytes(hex: code.table)
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
