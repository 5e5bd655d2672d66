import Foundation
import Testing

/// The command lines forkhazard reads without swift-argument-parser (Sources/forkhazard/FastPath.swift)
/// must come out exactly as the parser makes them: the same values, and the same output, errors
/// and exit status when run. `FORKHAZARD_ARGUMENTS=parser` turns the fast path off, `=fast` turns
/// the parser off (a command line left to it exits 70), and `FORKHAZARD_PRINT_REQUEST` prints the
/// parsed value instead of running it. These switches exist in debug builds only (`swift test`'s);
/// a release build reads neither variable.
@Suite("Argument fast path") struct FastPathTests {
    struct Row: Sendable, CustomTestStringConvertible {
        /// Whether the fast path reads it (else it leaves it to the parser).
        var fast: Bool
        var arguments: [String]
        /// Whether to run it for real too (not the demo's victim, which would hang by design).
        var runs = true

        var testDescription: String { (fast ? "fast: " : "parser: ") + arguments.map { "'\($0)'" }.joined(separator: " ") }
    }

    /// PIDs above any pid_max, so the diagnosis fails the same way on every machine.
    static let gone = "4194305", gone2 = "4194306"

    static let rows: [Row] = [
        Row(fast: true, arguments: ["--version"]),
        Row(fast: true, arguments: [gone]),
        Row(fast: true, arguments: ["--json", gone]),
        Row(fast: true, arguments: [gone, "--json"]),
        Row(fast: true, arguments: ["--full", "--no-stacks", gone, gone2]),
        Row(fast: true, arguments: ["--native-stacks", "--no-stacks", gone]),
        Row(fast: true, arguments: ["--no-lines", "--json", gone]),
        Row(fast: true, arguments: ["--color", "never", gone]),
        Row(fast: true, arguments: ["--color=always", gone]),
        Row(fast: true, arguments: ["--stack-bytes", "4096", gone]),
        Row(fast: true, arguments: ["--stack-bytes=67108864", gone]),
        Row(fast: true, arguments: ["--confirm-delay", "0.5", gone]),
        Row(fast: true, arguments: ["--confirm-delay=60", gone]),
        Row(fast: true, arguments: ["--confirm-delay", "1e1", gone]),
        Row(fast: true, arguments: ["--confirm-delay", ".25", gone]),
        Row(fast: true, arguments: ["000" + gone]),
        Row(fast: true, arguments: [gone, "--confirm-delay", "2", "--json", "--color", "auto", "--stack-bytes", "8192", "--no-stacks", "--full", gone2]),
        Row(fast: true, arguments: ["__victim", "demo", "--ready-fd", "3"], runs: false),
        Row(fast: true, arguments: ["__victim", "--ready-fd=5", "demo"], runs: false),
        Row(fast: true, arguments: ["__victim", "demo"], runs: false),

        Row(fast: false, arguments: []),
        Row(fast: false, arguments: ["0"]),
        Row(fast: false, arguments: ["-5"]),
        Row(fast: false, arguments: ["abc"]),
        Row(fast: false, arguments: ["12x"]),
        Row(fast: false, arguments: [""]),
        Row(fast: false, arguments: ["+" + gone]),
        Row(fast: false, arguments: ["99999999999"]),
        Row(fast: false, arguments: ["--bogus"]),
        Row(fast: false, arguments: ["-j", gone]),
        Row(fast: false, arguments: ["--JSON", gone]),
        Row(fast: false, arguments: ["-json", gone]),
        Row(fast: false, arguments: ["--json=true", gone]),
        Row(fast: false, arguments: ["--no-stacks=1", gone]),
        Row(fast: false, arguments: [gone, "--color", "blue"]),
        Row(fast: false, arguments: [gone, "--color"]),
        Row(fast: false, arguments: ["--color", "--json", gone]),
        Row(fast: false, arguments: ["--stack-bytes", "100", gone]),
        Row(fast: false, arguments: ["--stack-bytes", "x", gone]),
        Row(fast: false, arguments: ["--stack-bytes=", gone]),
        Row(fast: false, arguments: ["--stack-bytes", "-4096", gone]),
        Row(fast: false, arguments: ["--confirm-delay", "61", gone]),
        Row(fast: false, arguments: ["--confirm-delay", "nan", gone]),
        Row(fast: false, arguments: ["--confirm-delay", "-1", gone]),
        Row(fast: false, arguments: ["--json", "--json", gone]),
        Row(fast: false, arguments: ["--color", "never", "--color", "always", gone]),
        Row(fast: false, arguments: ["--proc-root", "/nonexistent", gone]),
        Row(fast: false, arguments: ["--", gone]),
        Row(fast: false, arguments: [gone, "--"]),
        Row(fast: false, arguments: ["--help"]),
        Row(fast: false, arguments: ["-h"]),
        Row(fast: false, arguments: ["help"]),
        Row(fast: false, arguments: ["--version", gone]),
        Row(fast: false, arguments: [gone, "--version"]),
        Row(fast: false, arguments: ["--generate-completion-script", "bash"]),
        Row(fast: false, arguments: ["diagnose", gone]),
        Row(fast: false, arguments: ["demo", "extra"]),
        Row(fast: false, arguments: ["run"]),
        Row(fast: false, arguments: ["watch"]),
        Row(fast: false, arguments: ["__victim"]),
        Row(fast: false, arguments: ["__victim", "other"]),
        Row(fast: false, arguments: ["__victim", "demo", "demo"], runs: false),
        Row(fast: false, arguments: ["__victim", "demo", "--ready-fd", "-1"], runs: false),
        Row(fast: false, arguments: ["__victim", "demo", "--ready-fd", "x"], runs: false),
        Row(fast: false, arguments: ["__victim", "demo", "--ready-fd", "3", "--ready-fd", "4"], runs: false),
        Row(fast: false, arguments: ["__victim", "demo", "--json"], runs: false),
    ]

    static let parserOnly = ["FORKHAZARD_ARGUMENTS": "parser"]
    static let fastOnly = ["FORKHAZARD_ARGUMENTS": "fast"]
    static let printRequest = ["FORKHAZARD_PRINT_REQUEST": "1"]

    @Test(arguments: rows)
    func bothPathsAgree(row: Row) throws {
        // The value: the fast path alone makes the parser's value, or leaves the line to the parser.
        let parsed = try runForkhazard(row.arguments, environment: Self.parserOnly.merging(Self.printRequest) { $1 })
        let fast = try runForkhazard(row.arguments, environment: Self.fastOnly.merging(Self.printRequest) { $1 })
        if row.fast {
            #expect(fast == parsed)
            #expect(fast.status == 0 && !fast.stdout.isEmpty)
        } else {
            #expect(fast == CommandResult(status: 70, stdout: "", stderr: "forkhazard: left to the argument parser\n"),
                    "the fast path leaves it to the parser, which says: \(parsed)")
        }
        // The run: the same output, errors and status with and without the fast path.
        guard row.runs else { return }
        let normal = try runForkhazard(row.arguments)
        let parser = try runForkhazard(row.arguments, environment: Self.parserOnly)
        #expect(normal == parser)
        if row.fast && row.arguments != ["--version"] {
            #expect(normal.status == 3 && normal.stderr.hasPrefix("forkhazard: no process with PID 4194305"), "\(normal)")
        }
    }

    /// A live tree, read without stopping it: the same report through both paths (the snapshot's
    /// time aside).
    @Test(arguments: [["--no-stacks", "--json"], ["--no-stacks"], ["--full", "--color", "always", "--no-stacks"]])
    func aLiveTreeIsReportedAlike(options: [String]) throws {
        let victim = try Victim(scenario: "pipe-read")
        try victim.waitUntilBlocked(in: "read")
        let arguments = options + [String(victim.pid)]
        // Both paths read the arguments the same way, so any difference is in the run.
        let fast = try runForkhazard(arguments, environment: Self.fastOnly)
        let parser = try runForkhazard(arguments, environment: Self.parserOnly)
        func timeless(_ result: CommandResult) -> CommandResult {
            var copy = result
            copy.stdout = result.stdout.replacing(/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/, with: "TIME")
            return copy
        }
        #expect(fast.status == 0)
        #expect(fast.stdout.contains(String(victim.helper)))
        #expect(timeless(fast) == timeless(parser))
    }
}
