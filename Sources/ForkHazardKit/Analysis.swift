/// A rule looks at a whole snapshot and reports findings.
public protocol Rule: Sendable {
    var id: String { get }
    func findings(in snapshot: Snapshot) -> [Finding]
}

/// Runs the rules over a snapshot.
public struct Analyzer: Sendable {
    public var rules: [any Rule]

    /// The rules a plain diagnosis runs.
    public static let standard = Analyzer(rules: [])

    public init(rules: [any Rule]) {
        self.rules = rules
    }

    public func report(for snapshot: Snapshot) -> Report {
        Report(snapshot: snapshot, findings: rules.flatMap { $0.findings(in: snapshot) })
    }
}
