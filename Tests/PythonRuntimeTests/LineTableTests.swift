import Testing

@testable import PythonRuntime
