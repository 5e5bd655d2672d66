// `inherited-lock` in words: the sentences of its findings.

extension InheritedLockFacts {
    public func text(of finding: Finding, words: FindingWords) -> FindingText { words.inheritedLock(self) }
}

extension FindingWords {
    func inheritedLock(_ facts: InheritedLockFacts) -> FindingText {
        // A Python lock by the object the waiting frame reaches it as: `RLock self._lock`.
        let lock: String
        if let python = facts.lock.python {
            lock = python.importing.map { "import lock of \($0)" } ?? python.objectWords
        } else {
            lock = facts.lock.kind.label
        }
        let many = facts.children.count > 1
        let children = group(facts.children)
        let parent = "\(facts.parent.name) \(facts.parent.pid)"
        var evidence: [FindingText.Evidence] = []
        // Where the waiters wait, in Python: `at console.py:1369 in Console.render_lines`.
        let waitsAt = facts.waiters.first.flatMap { report?.thread($0)?.python?.stack }.flatMap(pythonPlace).map { " at " + $0 } ?? ""

        let waiters = facts.waiters.count == facts.children.count
            ? (many ? "the main thread of each" : "TID \(facts.waiters[0].tid)")
            : plural(facts.waiters.count, "thread", "threads") + " (" + compactList(facts.waiters.map(\.tid)) + ")"
        evidence.append(.init(text: "\(children) forked from \(parent): \(waiters) waits forever on private futex "
                                + "\(facts.lock.address.map(hexAddress) ?? "?") (\(lock)); a private futex can be woken only by threads of its own process"))
        for basis in facts.basis { evidence.append(.init(text: basis.sentence(many: many))) }

        let holderShort: String
        var holderNow = ""
        switch facts.holder {
        case .thread(let owner):
            let role = owner.pid == facts.parent.pid ? "its parent" : "process"
            let ownerName = report?.thread(owner)?.displayName ?? "?"
            let namespace = facts.lock.ownerNamespaceTid.map { " (TID \($0) in its PID namespace)" } ?? ""
            let ownerAt = (report?.thread(owner)?.python?.stack).flatMap(pythonPlace).map { " (that thread is now at \($0))" } ?? ""
            holderShort = "thread \(owner.tid)\(namespace) '\(ownerName)' of \(role) \(owner.pid) held"
            holderNow = ownerAt
            let source = facts.lock.ownerSource?.rawValue ?? "owner field"
            evidence.append(.init(text: "\(lock) \(facts.lock.address.map(hexAddress) ?? "") is owned by TID \(owner.tid) (its \(source)), "
                                    + "thread '\(ownerName)' of \(owner.pid == facts.parent.pid ? "parent" : "process") \(owner.pid)"
                                    + (now(owner).map { " (alive there, \($0))" } ?? "")
                                    + "; TID \(owner.tid) does not exist in \(many ? "the children" : "\(facts.children[0].pid)"), "
                                    + "so \(many ? "they" : "the child") can never acquire it"))
        case .gone(let tid), .goneInNamespace(let tid):
            let namespace = facts.holder == .goneInNamespace(tid: tid) ? " of its PID namespace" : ""
            holderShort = "thread \(tid)\(namespace), which no longer exists, held"
            evidence.append(.init(text: "\(lock) is owned by TID \(tid)\(namespace) (its \(facts.lock.ownerSource?.rawValue ?? "owner field")), which no "
                                    + "process of this tree has (the thread exited, or it belongs to a process outside the tree)"))
        case .goneIdent(let ident):
            holderShort = "a thread that no longer exists (ident \(hexAddress(ident))) held"
            evidence.append(.init(text: "the lock records its owner as thread ident \(hexAddress(ident)), which no thread of this tree has "
                                    + "(the thread exited since, or belongs to a process outside the tree)"))
        case .unrecorded(let why, let candidates):
            let names = candidates.map { "'\($0.name)' \($0.tid)" }.joined(separator: ", ")
            holderShort = candidates.count == 1 ? "\(parent)'s only other thread at the fork, \(candidates[0].tid) '\(candidates[0].name)', must have held"
                : "one of \(parent)'s threads alive at the fork (\(names)) held"
            let noOwner: String
            switch why {
            case .barrier: noOwner = "a libgomp barrier has no owner: it waits for the other threads of the team, which do not exist in the child"
            case .notRecorded: noOwner = "\(article(lock)) \(lock) records no owner"
            case .unreadable: noOwner = "the owner of this lock could not be read"
            }
            evidence.append(.init(text: "\(noOwner); \(many ? "the children have" : "\(facts.children[0].pid) has") no other thread that could release it"))
            if !candidates.isEmpty {
                evidence.append(.init(text: "threads of \(parent) alive at the fork, one of which held it: \(names)"))
            }
        }
        if facts.confirmed {
            evidence.append(.init(text: "confirmed by the deadlock proof: nothing can wake \(many ? "these threads" : "this thread"), "
                                    + "and a second look before any thread was stopped found the same wait and unchanged context switch counts"))
        }
        let remedy = forkRemedy(parent: facts.parent.pid)
        let verb = facts.waiters.count == 1 ? "waits" : "wait"
        let cause: String
        if let module = facts.lock.python?.importing, case .thread(let owner) = facts.holder {
            cause = "\(children) \(verb) forever\(waitsAt) for the import of \(module), which was in progress in "
                + "\(owner.pid == facts.parent.pid ? "the parent's" : "process \(owner.pid)'s") thread \(owner.tid) "
                + "'\(report?.thread(owner)?.displayName ?? "?")' when \(many ? "they were" : "it was") forked."
        } else {
            cause = "\(children) \(verb) forever\(waitsAt) for \(article(lock)) \(lock) that \(holderShort) when \(many ? "they were" : "it was") forked\(holderNow)."
        }
        return FindingText(
            message: "\(children) \(verb) on \(article(lock)) \(lock) inherited across fork that no thread of \(many ? "their" : "its") own can release: "
                + "\(many ? "they" : "it") can never wake",
            evidence: evidence, remedy: remedy.full, cause: cause, fix: remedy.short)
    }
}
