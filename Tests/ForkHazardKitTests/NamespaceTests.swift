import Foundation
import ProcFS
import Testing

@testable import ForkHazardKit

/// A fork-after-threads hang in its own PID and mount namespace (as a container makes it),
/// diagnosed from the host and from inside.
@Suite("PID namespaces") struct NamespaceTests {
    /// `unshare --pid --fork --mount-proc waits fork-mutex`: the victim is PID 1 of its namespace.
    final class Contained {
        let unshare: Int32
        let victim: Int32
        let child: Int32

        init() throws {
            let unshare = try spawnClean("/usr/bin/unshare", ["--pid", "--fork", "--mount-proc", VictimBuild.waits, "fork-mutex"])
            self.unshare = unshare
            var victim: Int32 = 0, child: Int32 = 0
            do {
                try waitUntil {
                    victim = descendants(of: unshare).first ?? 0
                    child = victim > 0 ? descendants(of: victim).first ?? 0 : 0
                    return child > 0 && isBlocked(pid: child, tid: child, in: "futex")
                }
            } catch {
                for pid in [unshare, victim, child] where pid > 0 { kill(pid, SIGKILL) }
                _ = reap(unshare)
                throw error
            }
            self.victim = victim
            self.child = child
        }

        deinit {
            for pid in [unshare, victim, child] where pid > 0 { kill(pid, SIGKILL) }
            _ = reap(unshare)
        }
    }

    @Test func fromTheHostOwnersAreMappedToHostTids() throws {
        let contained = try Contained()
        let report = try Diagnosis().run(pids: [contained.victim])
        let parent = try #require(report.process(contained.victim))
        #expect(parent.namespacePid == 1)
        #expect(report.process(contained.child)?.namespacePid == 3)
        let holder = try #require(parent.threads.first { $0.name == "holder" })
        #expect(holder.namespaceTid == 2)
        let lock = try #require(report.thread(contained.child)?.wait?.lock)
        #expect(lock.owner == holder.tid, "the owner is the host's TID, not TID \(lock.ownerNamespaceTid ?? 0) of the host")
        #expect(lock.ownerNamespaceTid == 2)
        // The parent's wait4 names its child by its namespace PID; the report shows the host's.
        #expect(report.thread(contained.victim)?.wait?.children == [contained.child])
        guard case .inheritedLock(let facts)? = report.findings(.inheritedLock).first?.facts else {
            Issue.record("no inherited-lock")
            return
        }
        #expect(facts.holder == .thread(ThreadKey(pid: contained.victim, tid: holder.tid)))
        let text = TextRenderer(color: false).render(report)
        #expect(text.contains("[pid 1 in its PID namespace]"))
        #expect(text.contains("owned by TID \(holder.tid) (TID 2 in its PID namespace)"))
        try expectValid([report.json()], against: .report)
    }

    @Test func fromInsideTheNamespace() throws {
        let contained = try Contained()
        let inside = try CapturedRun("/usr/bin/nsenter", ["-t", String(contained.victim), "-p", "-m", forkhazardBinary(), "--json", "1"])
        #expect(inside.wait(timeout: 30) == 2)
        let report = try jsonObject(inside.stdout)
        let processes = try #require(report["processes"] as? [[String: Any]])
        #expect(processes.compactMap { $0["pid"] as? Int } == [1, 3])
        let inherited = try #require((report["findings"] as? [[String: Any]])?.first { $0["rule"] as? String == "inherited-lock" })
        let holder = (inherited["facts"] as? [String: Any])?["holder"] as? [String: Any]
        #expect(holder?["tid"] as? Int == 2 && holder?["pid"] as? Int == 1)
    }

    /// Inside a PID namespace the kernel's process events do not arrive: run polls, and says so.
    @Test func runInsideANamespacePollsAndSaysWhy() throws {
        let run = try CapturedRun("/usr/bin/unshare", ["--pid", "--fork", "--mount-proc", forkhazardBinary(), "run", "--", "sh", "-c", "echo hi"])
        #expect(run.wait(timeout: 30) == 0)
        #expect(run.stdout == "hi\n")
        #expect(run.stderr.contains("events: polling /proc every 20 ms (in a PID or user namespace other than the host's"))
    }
}
