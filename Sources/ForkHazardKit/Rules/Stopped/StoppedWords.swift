// `stopped` in words: the sentences of its findings.

extension StoppedFacts {
    public func text(of finding: Finding, words: FindingWords) -> FindingText { words.stopped(self) }
}

extension FindingWords {
    func stopped(_ facts: StoppedFacts) -> FindingText {
        let stoppedOnes = facts.threads.map { threads in
            threads.count == 1 ? who(threads[0]) : "\(threads.count) threads of \(group(facts.processes)) (\(compactList(threads.map(\.tid))))"
        } ?? group(facts.processes)
        let many = facts.threads.map { $0.count > 1 } ?? (facts.processes.count > 1)
        let how: String
        let fix: String
        let pids = facts.processes.map { String($0.pid) }.joined(separator: " ")
        if facts.state == .tracingStop, let tracer = facts.tracer {
            how = "stopped by \(many ? "their" : "its") tracer, \(tracer.name) \(tracer.pid)"
            fix = "Let the tracer (\(tracer.name) \(tracer.pid)) continue, or detach it."
        } else {
            how = "stopped by a signal (SIGSTOP, Ctrl-Z, or a debugger)"
            fix = "Resume \(many ? "them" : "it") with SIGCONT (kill -CONT \(pids), or fg in the shell that stopped \(many ? "them" : "it"))."
        }
        var evidence: [FindingText.Evidence] = [
            .init(text: "\(stoppedOnes) \(many ? "are" : "is") in state \(facts.state): \(how)"
                + (facts.tracer.map { facts.state == .tracingStop ? "" : "; traced by \($0.name) \($0.pid)" } ?? "")),
        ]
        if !facts.waiters.isEmpty {
            let lines = facts.waiters.prefix(8).map { "\(who($0)) \(report?.thread($0)?.waitLine ?? "?")" }
            evidence.append(.init(text: "waiting for \(many ? "them" : "it"), directly or through other waits:",
                                  details: lines + (facts.waiters.count > 8 ? ["… \(facts.waiters.count - 8) more threads"] : [])))
        }
        let held = facts.waiters.isEmpty ? ""
            : ", and \(plural(facts.waiters.count, "thread", "threads")) of the tree \(facts.waiters.count == 1 ? "waits" : "wait") for \(many ? "them" : "it")"
        return FindingText(
            message: "\(stoppedOnes) \(many ? "are" : "is") \(how)\(held): nothing moves until \(facts.state == .tracingStop ? "the tracer lets go" : "SIGCONT")",
            evidence: evidence, remedy: fix,
            cause: "\(stoppedOnes) \(many ? "are" : "is") \(how)\(held).", fix: fix)
    }
}
