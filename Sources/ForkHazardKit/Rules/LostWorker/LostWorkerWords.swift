// `lost-worker` in words: the sentences of its findings.

extension LostWorkerFacts {
    public func text(of finding: Finding, words: FindingWords) -> FindingText { words.lostWorker(self) }
}

extension FindingWords {
    func lostWorker(_ facts: LostWorkerFacts) -> FindingText {
        let parent = "\(facts.parent.name) \(facts.parent.pid)"
        var evidence: [FindingText.Evidence] = [
            .init(text: "\(parent) has \(plural(facts.workers.count, "worker process", "worker processes")): \(compactList(facts.workers))"),
        ]
        let firstPoolThread = facts.poolThreads.min() ?? 0
        for (worker, delay) in zip(facts.replacements, facts.replacementDelays) {
            evidence.append(.init(text: "worker \(worker) started \(formatDuration(delay)) after its siblings \(compactList(facts.originals)), "
                                    + "and after the pool's threads (TID \(firstPoolThread) and up): it replaced a worker that died"))
        }
        let main = ThreadKey(pid: facts.parent.pid, tid: facts.mainThread)
        evidence.append(.init(text: "main thread \(facts.mainThread) waits forever: \(report?.thread(main)?.waitLine ?? "?")"))
        evidence.append(.init(text: "pool threads:", details: facts.poolThreads.map { tid in
            "\(tid): \(report?.thread(ThreadKey(pid: facts.parent.pid, tid: tid))?.waitLine ?? "?")"
        }))
        let idle = facts.workers.map { pid in "\(pid) \(report?.process(pid)?.threads.first?.waitLine ?? "?")" }
        evidence.append(.init(text: "every worker is idle, waiting for work:", details: idle.count > 4 ? Array(idle.prefix(4)) + ["… \(idle.count - 4) more"] : idle))
        evidence.append(.init(text: "the task the dead worker held was never finished, so its result never comes (killed by a signal or the OOM killer: see dmesg)"))
        return FindingText(
            message: "\(parent) waits for results that will never come: a worker died mid-task and was replaced",
            evidence: evidence,
            remedy: "Use concurrent.futures.ProcessPoolExecutor, which raises BrokenProcessPool when a worker dies, or a pool "
                + "that detects worker death; set maxtasksperchild to bound memory growth; give the job more memory "
                + "if the OOM killer took the worker; put a timeout on result waits (AsyncResult.get(timeout=…)).",
            cause: "\(parent) waits forever for a result: a pool worker died mid-task and \(compactList(facts.replacements)) replaced it.",
            fix: "Use ProcessPoolExecutor (it raises BrokenProcessPool) or timeouts on result waits; see dmesg for the OOM killer.")
    }
}
