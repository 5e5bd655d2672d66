// `fork-from-threaded` in words: the sentences of its findings.

extension ForkFromThreadedFacts {
    public func text(of finding: Finding, words: FindingWords) -> FindingText { words.forkFromThreaded(self) }
}

extension FindingWords {
    func forkFromThreaded(_ facts: ForkFromThreadedFacts) -> FindingText {
        let children = group(facts.children)
        let many = facts.children.count > 1
        let parent = "\(facts.parent.name) \(facts.parent.pid)"
        let others = plural(facts.otherThreads.count, "other thread", "other threads")
        var evidence = facts.basis.map { FindingText.Evidence(text: $0.sentence(many: many)) }
        let threads = facts.threadsAtFork.map { thread -> String in
            let key = ThreadKey(pid: facts.parent.pid, tid: thread.tid)
            return "TID \(thread.tid) '\(thread.name)'" + (thread.tid == facts.parent.pid ? ", the main thread" : "")
                + (now(key).map { ", now: \($0)" } ?? "")
        }
        evidence.append(.init(text: "\(parent) had \(plural(facts.threadsAtFork.count, "thread", "threads")) when \(children) "
                                + "\(many ? "were" : "was") forked (each started before the child, by its clock tick or the PID counter):",
                              details: threads))
        evidence.append(.init(text: "threads that have exited since the fork cannot be seen in /proc and are not listed"))
        let remedy = forkRemedy(parent: facts.parent.pid)
        let exited = facts.exitedWithoutExec ? " (\(many ? "they" : "it") exited without exec)" : ""
        return FindingText(
            message: "\(children) \(many ? "were" : "was") forked without exec from \(parent) while it had \(others): "
                + "any lock they held is held forever in the child\(exited)",
            evidence: evidence, remedy: remedy.full,
            cause: "\(children) \(many ? "were" : "was") forked without exec from \(parent) while it had \(others)\(exited).",
            fix: remedy.short)
    }
}
