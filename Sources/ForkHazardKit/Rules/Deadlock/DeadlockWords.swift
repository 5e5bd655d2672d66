// `deadlock` in words: the sentences of its findings.

extension DeadlockFacts {
    public func text(of finding: Finding, words: FindingWords) -> FindingText { words.deadlock(self, pids: finding.pids) }
}

extension FindingWords {
    func deadlock(_ facts: DeadlockFacts, pids: [Int32]) -> FindingText {
        let members = facts.members
        let inherited = Set(facts.inheritedLockWaiters)
        // One line per member; members of sibling processes whose lines read the same are one line.
        var lines: [(key: Likeness, first: ThreadKey, pids: [Int32])] = []
        func reason(_ member: DeadlockFacts.Member, own: String?) -> String {
            var text: String
            switch member.wakers {
            case .only(_, _, let roles) where member.wakers.isNobody:
                text = "nothing can wake it (\(roles.map { $0.words(own: own) }.joined(separator: "; ")))"
            case .only(_, _, let roles):
                text = "only \(roles.map { $0.words(own: own) }.joined(separator: "; ")) can wake it"
            case .live(let why):
                text = why.words
            }
            if inherited.contains(member.thread) { text += "; an inherited lock (see inherited-lock)" }
            return text
        }
        for member in members {
            let process = report?.process(member.thread.pid)
            let own = Set(process?.threads.map(\.tid) ?? []).union([member.thread.pid])
            let key = Likeness(member: report?.thread(member.thread), of: process, isMain: member.thread.tid == member.thread.pid,
                               wakers: member.wakers, inherited: inherited.contains(member.thread), own: own)
            if let index = lines.firstIndex(where: { $0.key == key && !$0.pids.contains(member.thread.pid) }) {
                lines[index].pids.append(member.thread.pid)
            } else {
                lines.append((key, member.thread, [member.thread.pid]))
            }
        }
        var evidence: [FindingText.Evidence] = lines.map { line in
            let member = members.first { $0.thread == line.first }!
            let waitText = report?.thread(line.first)?.waitLine ?? "?"
            if line.pids.count > 1 {
                return .init(text: "\(line.pids.count) processes \(name(line.first.pid)) \(compactList(line.pids)), each: "
                                 + "\(waitText); \(reason(member, own: "the process"))")
            }
            return .init(text: "\(who(line.first)) \(waitText); \(reason(member, own: nil))")
        }
        if let cycle = facts.cycle {
            evidence.append(.init(text: "cycle: " + cycle.map(String.init).joined(separator: " -> ")))
        } else if !facts.unwakeable.isEmpty, members.count > facts.unwakeable.count {
            evidence.append(.init(text: "no thread at all can wake " + compactList(facts.unwakeable.map(\.tid))
                                    + "; the others wait, directly or not, for it"))
        }
        // A member that runs an asyncio loop: the tasks that wait on it, and where.
        var tasks: [String] = []
        for member in members {
            guard let asyncio = report?.process(member.thread.pid)?.python?.asyncio else { continue }
            for loop in asyncio.loops where loop.tid == member.thread.tid {
                let waiting = asyncio.tasks.filter { $0.loop == loop.address && $0.state == .pending && $0.awaiting != nil }
                guard !waiting.isEmpty else { continue }
                let shown = waiting.prefix(3).map { task -> String in
                    let place = (task.coroutines.last { !$0.isLibrary } ?? task.coroutines.last)
                        .map { " (\(fileName(of: $0.file))\($0.line.map { ":\($0)" } ?? ""))" } ?? ""
                    return task.words(in: asyncio) + place
                }
                tasks.append("\(who(member.thread))'s asyncio \(waiting.count == 1 ? "task" : "tasks") "
                             + shown.joined(separator: "; ") + (waiting.count > 3 ? "; …" : ""))
                evidence.append(.init(text: "\(who(member.thread)) runs an asyncio loop; its tasks wait with it:",
                                      details: waiting.prefix(8).map { "task " + $0.words(in: asyncio) }))
            }
        }
        evidence.append(.init(text: "confirmed by a second look before any thread was stopped: the same system calls, unchanged context switch counts"))
        let threads = plural(members.count, "thread", "threads")
        let processes = plural(pids.count, "process", "processes")
        let cause: String
        if let cycle = facts.cycle {
            cause = "\(threads) in \(processes) wait for each other for good (cycle \(cycle.map(String.init).joined(separator: " -> ")))."
        } else if let root = facts.unwakeable.first, members.count > facts.unwakeable.count {
            let waiting = members.map(\.thread).filter { !facts.unwakeable.contains($0) }
            cause = "\(who(root)) can never wake, and \(waiting.count == 1 ? who(waiting[0]) : plural(waiting.count, "thread", "threads")) "
                + "\(waiting.count == 1 ? "waits" : "wait") for it for good."
        } else {
            cause = "\(threads) in \(processes) \(isAre(members.count)) stuck for good: nothing can wake \(members.count == 1 ? "it" : "them")."
        }
        let withTasks = tasks.isEmpty ? "" : "; " + tasks.joined(separator: "; ")
        return FindingText(
            message: "\(threads) in \(processes) \(isAre(members.count)) stuck for good: each waits for another of them, or for nothing at all"
                + withTasks,
            evidence: evidence,
            remedy: "Break the chain: each waits for another in the list. Close the pipe and socket ends a process does not "
                + "use right after fork, do not wait for a child that waits for you, put timeouts on waits across "
                + "processes, and take locks in one order. A lock inherited across fork is explained under inherited-lock.",
            cause: tasks.isEmpty ? cause : String(cause.dropLast()) + withTasks + ".",
            fix: "Break the chain: close pipe ends a process does not use after fork, put timeouts on waits across processes, take locks in one order.")
    }
}
