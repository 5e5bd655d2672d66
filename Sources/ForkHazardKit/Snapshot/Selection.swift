import ProcFS

/// The first stage: which processes a snapshot holds. The requested PIDs become process roots (a
/// TID shows its whole process), and the processes are put in tree order: each root, then its
/// descendants depth first, by PID; a root that is a descendant of another root is shown once,
/// under its ancestor.
struct Selection {
    /// The processes asked about, by thread group.
    var roots: [Int32] = []
    /// Every process to read, in tree order.
    var order: [Int32] = []
    var notes: [SnapshotNote] = []

    init(requested: [Int32], proc: ProcRoot, table: ProcessTable) throws(InspectError) {
        for pid in requested {
            let stat: ProcStat
            do throws(ProcError) {
                guard let parsed = ProcStat(parsing: try proc.bytes("\(pid)/stat")) else { throw ProcError.gone }
                stat = parsed
            } catch .denied {
                throw .notPermitted(pid)
            } catch {
                throw .noSuchProcess(pid)
            }
            // A TID names its thread group's directory too; show the whole process.
            let tgid = (try? proc.bytes("\(pid)/status")).map { ProcStatus(parsing: $0) }?.tgid ?? stat.pid
            if tgid != pid { notes.append(.threadOfProcess(tid: pid, process: tgid)) }
            if !roots.contains(tgid) { roots.append(tgid) }
        }
        var seen = Set<Int32>()
        func visit(_ pid: Int32) {
            guard seen.insert(pid).inserted else { return }
            order.append(pid)
            for child in table.children(of: pid) { visit(child) }
        }
        let nested = Set(roots.flatMap { table.descendants(of: $0) })
        for root in roots where !nested.contains(root) { visit(root) }
    }
}
