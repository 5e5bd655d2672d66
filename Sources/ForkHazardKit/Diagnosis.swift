#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CForkHazard
import Glibc
import ProcFS

/// The whole diagnosis of one or more process trees: snapshot, then analysis.
public struct Diagnosis: Sendable {
    public var builder: SnapshotBuilder
    public var analyzer: Analyzer

    public init(builder: SnapshotBuilder = SnapshotBuilder(), analyzer: Analyzer = .standard) {
        self.builder = builder
        self.analyzer = analyzer
    }

    public func run(pids: [Int32]) throws(InspectError) -> Report {
        analyzer.report(for: try builder.take(roots: pids))
    }
}


/// Settings for the process that runs diagnoses.
public enum ProcessSetup {
    /// malloc's defaults suit a long-lived server: a block of 128 KiB or more gets a mapping of
    /// its own, unmapped when freed, and free memory at the heap's top goes back to the kernel. A
    /// diagnosis allocates and frees many such blocks (file sections, inflated DWARF, copies of
    /// another process's memory) on several threads: every new mapping's pages are faulted in and
    /// zeroed again, and every unmapping interrupts the other CPUs to flush their TLBs. Freed
    /// memory is kept for reuse instead (a run's largest footprint stays about the same; a long
    /// `watch` keeps its largest snapshot's memory): about a tenth of the wall time on a tree of
    /// Python processes. Call it first, before other threads start.
    public static func keepFreedMemory() { fh_keep_freed_memory() }
}
