/// A rule looks at a whole snapshot and reports findings.
public protocol Rule: Sendable {
    var id: String { get }
    func findings(in snapshot: Snapshot) -> [Finding]
}

/// Runs the rules over a snapshot.
public struct Analyzer: Sendable {
    public var rules: [any Rule]

    /// The rules a plain diagnosis runs.
    public static let standard = Analyzer(rules: [InheritedLock(), DeadlockRule(), LostWorkerRule(), ForkFromThreaded()])

    public init(rules: [any Rule]) {
        self.rules = rules
    }

    /// Annotates fork origins, then runs every rule.
    public func report(for snapshot: Snapshot) -> Report {
        let annotated = ForkProvenance.annotate(snapshot)
        return Report(snapshot: annotated, findings: rules.flatMap { $0.findings(in: annotated) })
    }
}
