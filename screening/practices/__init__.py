"""The GP practice hears back (SPEC §13): the letter a practice is sent when a task closes.

- content: what a letter says, gathered from the task (the PRSB message back to the GP)
- pdf: the letter as a PDF
- letters: when a letter is made and mailed, and the mail that carries it
"""
