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

