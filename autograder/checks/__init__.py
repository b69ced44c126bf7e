"""Hidden checks, one module per chapter.

Each ``check_<name>(student_object)`` raises ``AssertionError`` with a message that names the
likely mistake, never the test code. Hidden test cells only import and call these functions.
"""
