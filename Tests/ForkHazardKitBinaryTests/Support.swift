// The binary tests start victims and the built executable (VictimSupport) and read what it prints
// (ReportSupport).
@_exported import ReportSupport
@_exported import VictimSupport
