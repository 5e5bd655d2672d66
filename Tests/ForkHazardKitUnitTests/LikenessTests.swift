import Testing

@testable import ForkHazardKit

/// The text report folds look-alike threads and processes by the values of their waits.
@Suite("Look-alike threads and processes")
struct LikenessTests {
    func text(_ tree: SyntheticTree) -> String { TextRenderer(color: false).render(tree.report()) }

    @Test func threadsThatDifferOnlyInTimeLeftAreOneEntry() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .pause), .init(101, "sleeper", wait: .sleep(5)), .init(102, "sleeper", wait: .sleep(4.5)),
                                    .init(103, "sleeper", wait: .sleep(4))])
        #expect(text(tree).contains("3*[sleeper]"), "\(text(tree))")
    }

    @Test func threadsWaitingOnOtherObjectsOrOwnersStayApart() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .pause),
                                    .init(101, "worker", wait: .futex(0x1000, lock: .pthreadMutex, owner: 100)),
                                    .init(102, "worker", wait: .futex(0x2000, lock: .pthreadMutex, owner: 100)),
                                    .init(103, "worker", wait: .futex(0x2000, lock: .pthreadMutex, owner: 101)),
                                    .init(104, "worker", wait: .futex(0x2000, lock: .pthreadMutex, owner: 101, timeout: 3))])
        let shown = text(tree)
        #expect(!shown.contains("*[worker]"), "\(shown)")
        for tid in 101...104 { #expect(shown.contains("\(tid) worker"), "\(shown)") }
    }

    @Test func copiesOfOneProgramDifferInTheirOwnNumbersOnly() {
        var tree = SyntheticTree()
        tree.process(100, threads: [.init(100, wait: .child([101, 102, 103]))])
        // Each child waits on its own copy of a mutex its own second thread holds.
        for (pid, address) in [(101, 0x1000), (102, 0x2000)] as [(Int32, UInt64)] {
            tree.process(pid, parent: 100, name: "worker", threads: [.init(pid, wait: .futex(address, lock: .pthreadMutex, owner: pid + 10)),
                                                                    .init(pid + 10, wait: .sleep(3))])
        }
        // This one's mutex is held by a thread of another process: not a copy of the others.
        tree.process(103, parent: 100, name: "worker", threads: [.init(103, wait: .futex(0x3000, lock: .pthreadMutex, owner: 111)),
                                                                .init(113, wait: .sleep(3))])
        let shown = text(tree)
        #expect(shown.contains("2*[worker] (101-102)") || shown.contains("2*[worker] (101, 102)"), "\(shown)")
        #expect(shown.contains("worker,103"), "\(shown)")
    }
}
