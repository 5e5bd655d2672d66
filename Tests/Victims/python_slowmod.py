"""Imported by two threads of python_threads.py: the first runs this until the gate opens (never),
the second waits for the first's import to finish."""
import __main__

__main__.IMPORT_GATE.wait()
