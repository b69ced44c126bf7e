"""The course's autograder: hidden checks and the instructor's grading command.

Run ``python -m autograder grade --help``.
"""
