#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import ProcFS

/// The whole diagnosis of one or more process trees: snapshot, then analysis.
public struct Diagnosis: Sendable {
    public var builder: SnapshotBuilder
    public var analyzer: Analyzer

    public init(builder: SnapshotBuilder = SnapshotBuilder(), analyzer: Analyzer = .standard) {
        self.builder = builder
        self.analyzer = analyzer
    }

    public func run(pids: [Int32]) throws(InspectError) -> Report {
        analyzer.report(for: try builder.take(roots: pids))
    }
}

extension Report {
    /// The report as `--json` prints it: one line, sorted keys, ending in a newline (pipe it through
    /// `jq .` to read it).
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain values cannot fail.
        let data = try! encoder.encode(self)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
