// `task-deadlock` in words: the sentences of its findings.

extension TaskDeadlockFacts {
    public func text(of finding: Finding, words: FindingWords) -> FindingText { words.taskDeadlock(self) }
}

extension FindingWords {
    func taskDeadlock(_ facts: TaskDeadlockFacts) -> FindingText {
        let asyncio = report?.process(facts.process.pid)?.python?.asyncio
        func task(_ address: UInt64) -> TaskInfo? { asyncio?.task(address) }
        func label(_ address: UInt64) -> String { task(address)?.label ?? "at \(hexAddress(address))" }
        /// ` (app.py:12)`: the line the task's innermost coroutine of the program's own waits at.
        func line(_ address: UInt64) -> String {
            let coroutines = task(address)?.coroutines ?? []
            return (coroutines.last { !$0.isLibrary } ?? coroutines.last).map { " (\(fileName(of: $0.file))\($0.line.map { ":\($0)" } ?? ""))" } ?? ""
        }
        /// `'publish' (app.py:12)`.
        func placed(_ address: UInt64) -> String { label(address) + line(address) }
        let process = "\(facts.process.name) \(facts.process.pid)"
        let count = facts.tasks.count == 1 ? "task waits" : "\(facts.tasks.count) tasks wait"
        let what: String
        if let cycle = facts.cycles.first {
            what = "await cycle: " + (cycle + [cycle[0]]).map(placed).joined(separator: " → ")
        } else {
            let shown = facts.tasks.prefix(3).map { address in
                (task(address).flatMap { task in asyncio.map { task.words(in: $0) } } ?? label(address)) + line(address)
            }
            what = shown.joined(separator: "; ") + (facts.tasks.count > 3 ? "; …" : "")
        }
        var evidence: [FindingText.Evidence] = [
            .init(text: "\(who(facts.loopThread)) runs the loop and waits in its selector forever "
                  + "(\(report?.thread(facts.loopThread)?.waitLine ?? "?")): no timer and no ready callback, and it watches only "
                  + "\(facts.watchedFds.count == 1 ? "fd \(facts.watchedFds[0])" : "fds \(facts.watchedFds.map(String.init).joined(separator: ", "))"), "
                  + "the loop's own wakeup socket, whose other end no other process holds"),
            .init(text: "\(process) handles no signal (CPython's own SIGINT aside), so no signal handler can run on the loop"),
            .init(text: facts.otherThreads.isEmpty ? "it has no other thread that could call into the loop"
                  : "its other \(plural(facts.otherThreads.count, "thread waits", "threads wait")) forever on threads of this process: "
                    + facts.otherThreads.prefix(6).map(who).joined(separator: ", ")),
        ]
        for cycle in facts.cycles {
            evidence.append(.init(text: "await cycle: " + (cycle + [cycle[0]]).map(label).joined(separator: " awaits ")
                                  + ": none of them can finish before the others, and nothing else can run to cancel one"))
        }
        let lines = facts.tasks.prefix(12).map { address -> String in
            guard let task = task(address), let asyncio else { return label(address) }
            let at = task.coroutines.reversed().prefix(4).map(\.display).joined(separator: " <- ")
            return "task " + task.words(in: asyncio) + (at.isEmpty ? "" : "; at \(at)")
        }
        evidence.append(.init(text: facts.tasks.count == 1 ? "the loop's task, waiting forever:" : "the loop's \(facts.tasks.count) tasks, each waiting forever:",
                              details: lines + (facts.tasks.count > 12 ? ["… \(facts.tasks.count - 12) more tasks"] : [])))
        evidence.append(.init(text: "confirmed by a second look before any thread was stopped: the same system call, unchanged context switch counts"))
        let remedy = facts.cycles.isEmpty
            ? "Nothing left in this program can complete what its tasks await: make sure the task, callback or thread that should set the Event, "
                + "release the Lock, put into the Queue or set the future exists and runs; take asyncio locks in one order; "
                + "put timeouts on waits that may never end (asyncio.timeout, asyncio.wait_for)."
            : "A task must not await a task that awaits it, directly or through others: break the cycle (one side should not await "
                + "the other, or hand over through a Queue); put timeouts on waits that may never end (asyncio.timeout, asyncio.wait_for)."
        let cause = "the asyncio loop of \(process) can never run again, and its \(count) forever: \(what)"
        return FindingText(message: cause, evidence: evidence, remedy: remedy, cause: cause + ".",
                           fix: facts.cycles.isEmpty ? "make sure whatever should complete what the tasks await runs; put timeouts on such waits."
                               : "break the await cycle; put timeouts on waits that may never end.")
    }
}
