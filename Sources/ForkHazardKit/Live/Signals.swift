import CForkHazard

/// The tool's own signal handling: stopped threads are released on SIGINT, SIGTERM and SIGHUP;
/// for `run`, those signals are then passed on to the command.
public enum Signals {
    public static func installRelease() {
        fh_install_release_handlers()
    }

    /// Passes SIGINT, SIGTERM and SIGHUP on to `pid` (unless the terminal already sent them to its
    /// process group) instead of ending this process.
    public static func forward(to pid: Int32) {
        fh_install_release_handlers()
        fh_set_forward_pid(pid)
    }

    /// Makes this process a child subreaper: orphaned descendants (a daemon's double fork,
    /// setsid) come to it instead of to init, so that `run` can diagnose, reap and end them.
    @discardableResult
    public static func adoptOrphans() -> Bool {
        fh_set_child_subreaper() == 0
    }
}
