// The unit tests read reports with the helpers the ForkHazardKit tests of every kind share.
@_exported import ReportSupport
